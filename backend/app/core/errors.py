"""Error responses a person can read: Russian messages, no stack traces, nothing secret."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    404: "Не найдено",
    405: "Метод не поддерживается",
    401: "Требуется вход в систему",
    403: "Недостаточно прав",
}

INTERNAL = "Внутренняя ошибка сервера. Попробуйте ещё раз; если ошибка повторится, сообщите администратору."


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


class APIError(Exception):
    """An error whose JSON body carries more than `detail`, e.g. the id of the record it conflicts with."""

    def __init__(self, status_code: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.extra = extra


def install(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(_: Request, exc: APIError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail, **exc.extra}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": _describe(e)} for e in exc.errors()]
        detail = "; ".join(dict.fromkeys(e["message"] for e in errors))
        return JSONResponse({"detail": detail, "errors": errors}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if not isinstance(detail, str) or detail in ("Not Found", "Method Not Allowed", "Unauthorized", "Forbidden"):
            detail = HTTP_MESSAGES.get(exc.status_code, "Ошибка запроса")
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, _exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": INTERNAL}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)
