"""HTTP answers for errors: one body shape `{"detail": "<Russian message>", ...}`, no stack traces, nothing secret.

Services raise `app.core.errors.AppError`; the framework raises its own exceptions for bad requests (JSON, forms,
unknown paths). Both end here, so every error a client sees is a Russian string `detail` (plus `errors` for 422).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.errors import INTERNAL, AppError

logger = logging.getLogger("app.errors")

FIELD_NAMES = {
    "candidate_id": "кандидат",
    "role": "роль",
    "content": "текст сообщения",
    "full_name": "ФИО",
    "email": "email",
    "phone": "телефон",
    "position": "должность",
    "resume_text": "текст резюме",
    "limit": "limit",
    "before_id": "before_id",
    "offset": "offset",
    "city": "город",
    "source": "источник",
    "vacancy_id": "вакансия",
    "skills": "навыки",
    "key_skills": "ключевые навыки",
    "notes": "заметки",
    "stage": "этап",
    "reason": "причина",
    "title": "название",
    "description": "описание",
    "requirements": "требования",
    "status": "статус",
    "file": "файл",
    "q": "поиск",
}

HTTP_MESSAGES = {
    400: "Некорректный запрос",
    401: "Требуется вход в систему",
    403: "Недостаточно прав",
    404: "Не найдено",
    405: "Метод не поддерживается",
    406: "Запрошенный формат ответа не поддерживается",
    413: "Запрос слишком большой",
    415: "Неподдерживаемый формат данных",
    422: "Некорректный запрос",
    429: "Слишком много запросов. Попробуйте позже.",
}
# What Starlette and FastAPI say in English when they cannot read a request body.
FRAMEWORK_MESSAGES = [
    (re.compile(r"error parsing the body", re.I), "Не удалось разобрать тело запроса: проверьте формат данных"),
    (re.compile(r"exceeded maximum size", re.I), "Поле формы слишком большое"),
    (re.compile(r"too many files", re.I), "Слишком много файлов в одной форме"),
    (re.compile(r"too many fields", re.I), "Слишком много полей в одной форме"),
    (re.compile(r"multipart|content-disposition", re.I), "Некорректные данные формы (multipart/form-data)"),
]
_CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def _describe(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
    field = FIELD_NAMES.get(loc[-1], loc[-1]) if loc else ""
    if kind == "json_invalid":
        return "Некорректный JSON в теле запроса"
    if kind == "missing":
        return f"Не заполнено обязательное поле «{field}»" if field else "Пустое тело запроса"
    if kind == "literal_error" and loc and loc[-1] == "role":
        return "Роль должна быть «user» или «assistant»"
    if kind == "enum":
        allowed = str(ctx.get("expected", "")).replace(" or ", ", ").replace("'", "")
        return f"Поле «{field}» должно быть одним из: {allowed}"
    if kind in ("too_long", "too_short"):
        return f"Недопустимое число элементов в поле «{field}»"
    if kind in ("list_type",):
        return f"Поле «{field}» должно быть списком"
    if kind in ("bool_parsing", "bool_type"):
        return f"Поле «{field}» должно быть true или false"
    if kind == "string_too_short":
        return f"Поле «{field}» не может быть пустым"
    if kind == "string_too_long":
        return f"Поле «{field}» слишком длинное (не больше {ctx.get('max_length')} символов)"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"Поле «{field}» должно быть целым числом"
    if kind in ("greater_than", "greater_than_equal", "less_than_equal", "less_than"):
        return f"Недопустимое значение поля «{field}»"
    if kind in ("string_type",):
        return f"Поле «{field}» должно быть строкой"
    if kind == "value_error" and field == "email":
        return "Некорректный адрес email"
    if kind in ("model_attributes_type", "dict_type", "model_type"):
        return "Тело запроса должно быть JSON-объектом"
    return f"Некорректное значение поля «{field}»" if field else "Некорректный запрос"


def framework_message(status_code: int, detail: Any) -> str:
    """A Russian message for an error the framework raised (its own texts are English)."""
    if isinstance(detail, str) and _CYRILLIC.search(detail):
        return detail
    text = detail if isinstance(detail, str) else ""
    for pattern, message in FRAMEWORK_MESSAGES:
        if pattern.search(text):
            return message
    return HTTP_MESSAGES.get(status_code, "Ошибка запроса")


def install(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def app_error(_: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": _describe(e)} for e in exc.errors()]
        detail = "; ".join(dict.fromkeys(e["message"] for e in errors))
        return JSONResponse({"detail": detail, "errors": errors}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = framework_message(exc.status_code, exc.detail)
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, _exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": INTERNAL}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)
