"""Helpers for resume-intake tests: resumes as real files, the model's draft, and polling a batch."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fake_upstream import FakeUpstream
from tests.resume_files import make_docx
from tests.utils.app import wait_until

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def resume_docx(name: str, email: str, phone: str, *, skills: str = "Python, FastAPI, PostgreSQL") -> bytes:
    return make_docx(
        [
            name,
            "Python-разработчик, Казань",
            f"Телефон {phone}  Почта: {email}  Telegram: t.me/{email.split('@')[0].replace('.', '_')}",
            f"Навыки: {skills}",
            "Опыт работы 6 лет. 2019–2025 ООО «Ромашка», ведущий разработчик: платёжный шлюз.",
            "Образование: КФУ, прикладная математика, 2018. Английский — B2.",
        ]
    )


def draft(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "full_name": "Мария Соколова",
        "city": "Казань",
        "position": "Python-разработчик",
        "skills": ["Python", "FastAPI", "PostgreSQL"],
        "years_experience": 6,
        "work_history": [
            {"company": "ООО «Ромашка»", "title": "Ведущий разработчик", "period": "2019–2025", "summary": "Шлюз"}
        ],
        "education": [{"institution": "КФУ", "degree": "Прикладная математика", "year": "2018"}],
        "languages": ["английский — B2"],
    }
    doc.update(overrides)
    return doc


def provider_requests(fake: FakeUpstream) -> list[str]:
    """Every request body the providers received, as text."""
    import json

    return [json.dumps(r["json"], ensure_ascii=False) for r in (*fake.gigachat.requests, *fake.openrouter.requests)]


async def upload_batch(client: httpx.AsyncClient, files: list[tuple[str, bytes, str]]) -> dict[str, Any]:
    response = await client.post("/api/intake/batches", files=[("files", f) for f in files])
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


async def batch(client: httpx.AsyncClient, batch_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/intake/batches/{batch_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def wait_for_batch(client: httpx.AsyncClient, batch_id: int, timeout: float = 30.0) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def done() -> bool:
        seen.update(await batch(client, batch_id))
        return bool(seen["done"] == seen["total"])

    await wait_until(done, timeout=timeout)
    return seen
