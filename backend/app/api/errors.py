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
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import DATABASE_BUSY, INTERNAL, AppError, ServiceUnavailable
from app.schemas import NUL_REFUSED

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
    if kind in ("greater_than", "greater_than_equal"):
        bound = ctx.get("gt", ctx.get("ge"))
        return f"Поле «{field}» должно быть {'больше' if kind == 'greater_than' else 'не меньше'} {bound}"
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("lt", ctx.get("le"))
        return f"Поле «{field}» должно быть {'меньше' if kind == 'less_than' else 'не больше'} {bound}"
    if kind in ("string_type",):
        return f"Поле «{field}» должно быть строкой"
    if kind == "value_error" and str(ctx.get("error")) == NUL_REFUSED:
        return (
            f"Поле «{field}» содержит недопустимый нулевой символ (U+0000)" if field else "Недопустимый нулевой символ"
        )
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


REFERENCE_MISSING = "Запись ссылается на то, чего нет (например, на удалённую вакансию или кандидата)"
DUPLICATE = "Такая запись уже есть"
INVALID_VALUE = "Значение не подходит для сохранения"


def _sqlstate(exc: DBAPIError) -> str:
    return str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")


def integrity_answer(exc: IntegrityError) -> tuple[int, str]:
    """FOREIGN KEY → 422 (a reference to nothing), UNIQUE → 409, the rest (NOT NULL, CHECK) → 422."""
    state = _sqlstate(exc)
    text = str(exc.orig).lower()
    if state == "23503" or "foreign key" in text:
        return status.HTTP_422_UNPROCESSABLE_CONTENT, REFERENCE_MISSING
    if state == "23505" or "unique" in text:
        return status.HTTP_409_CONFLICT, DUPLICATE
    return status.HTTP_422_UNPROCESSABLE_CONTENT, INVALID_VALUE


def _app_error_response(exc: AppError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def app_error(_: Request, exc: AppError) -> JSONResponse:
        return _app_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": _describe(e)} for e in exc.errors()]
        detail = "; ".join(dict.fromkeys(e["message"] for e in errors))
        return JSONResponse({"detail": detail, "errors": errors}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = framework_message(exc.status_code, exc.detail)
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError) -> JSONResponse:
        # A value the column cannot hold (too long, out of range) that validation let through.
        logger.warning(
            "data error on %s %s: %s %s", request.method, request.url.path, type(exc.orig).__name__, _sqlstate(exc)
        )
        return JSONResponse({"detail": INVALID_VALUE, "errors": []}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(IntegrityError)
    async def integrity_error(request: Request, exc: IntegrityError) -> JSONResponse:
        # The driver's message can quote the offending values (an email in a UNIQUE key): log only its kind.
        code, detail = integrity_answer(exc)
        logger.info(
            "integrity error on %s %s: %s %s", request.method, request.url.path, type(exc.orig).__name__, _sqlstate(exc)
        )
        body: dict[str, Any] = {"detail": detail, "errors": []} if code == 422 else {"detail": detail}
        return JSONResponse(body, status_code=code)

    app.add_middleware(UnhandledErrorMiddleware)


# PostgreSQL's "too many connections" and "starting up / shutting down": the server, not the request, is at fault.
_UNAVAILABLE_STATES = frozenset({"53300", "57P01", "57P02", "57P03"})


def database_unavailable(exc: BaseException) -> AppError | None:
    """A 503 when no connection could be had: the pool's wait ran out, or the server refused a new connection or
    closed the one in use. The client may simply try again; any other error is not this one (None)."""
    if isinstance(exc, PoolTimeout) or (
        isinstance(exc, DBAPIError) and (exc.connection_invalidated or _sqlstate(exc) in _UNAVAILABLE_STATES)
    ):
        return ServiceUnavailable(DATABASE_BUSY, headers={"Retry-After": "5"})
    return None


def _log_unhandled(scope: Scope, exc: BaseException) -> None:
    where = f"{scope.get('method', '')} {scope.get('path', '')}"
    if isinstance(exc, PoolTimeout):
        logger.error("database busy on %s: no free connection in the pool's wait", where)
    elif isinstance(exc, DBAPIError):
        # No traceback: its text carries the statement and the driver's detail, which can quote personal data.
        logger.error("database error on %s: %s %s", where, type(exc.orig).__name__, _sqlstate(exc))
    else:
        logger.error("unhandled error on %s", where, exc_info=exc)


class UnhandledErrorMiddleware:
    """Answer any other exception with a Russian 500 (a 503 when the database could not be reached) and log it
    once, the way `_log_unhandled` decides.

    Placed inside the application's middleware so the framework's outermost error layer never sees the
    exception (it would log the full traceback a second time, SQL text included).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            _log_unhandled(scope, exc)
            if not started:
                if (unavailable := database_unavailable(exc)) is not None:
                    response = _app_error_response(unavailable)
                else:
                    response = JSONResponse({"detail": INTERNAL}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)
                await response(scope, receive, send)
