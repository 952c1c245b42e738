"""One error model: services raise the app's own errors; only `app/api/` and `main.py` know HTTP."""

from __future__ import annotations

import ast
from pathlib import Path

from app.core.errors import AppError, Conflict, Gone, NotFound, Unprocessable

APP = Path(__file__).resolve().parents[2] / "app"
HTTP_MODULES = ("fastapi", "starlette.exceptions", "starlette.responses", "starlette.requests")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_services_and_the_error_model_do_not_know_http() -> None:
    modules = [*sorted((APP / "services").glob("*.py")), APP / "core" / "errors.py"]
    offenders = {
        str(path.relative_to(APP)): sorted(m for m in _imports(path) if m.startswith(HTTP_MODULES)) for path in modules
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert _imports(APP / "core" / "errors.py") <= {"__future__", "http", "typing"}


def test_errors_carry_a_status_a_message_and_extra_fields() -> None:
    conflict = Conflict("Кандидат уже есть", existing_candidate_id=7)
    assert (conflict.status, conflict.body()) == (409, {"detail": "Кандидат уже есть", "existing_candidate_id": 7})
    assert NotFound("Нет").status == 404 and Gone("Удалены").status == 410
    assert Unprocessable("Нет вакансии", field="body.vacancy_id").body() == {
        "detail": "Нет вакансии",
        "errors": [{"field": "body.vacancy_id", "message": "Нет вакансии"}],
    }
    assert AppError("Своё", status=418).status == 418
    assert isinstance(conflict, AppError) and isinstance(conflict, Exception)
