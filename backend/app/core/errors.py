"""The application's own errors: services raise these, never an HTTP framework's exception.

A leaf module (standard library only): `app/api/errors.py` turns an `AppError` into
`{"detail": message, **extra}` with its `status`. Anything a recruiter sees is in Russian.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar


class AppError(Exception):
    """An error with a message a person can act on, an HTTP-like status, and optional extra JSON fields.

    `extra` carries what a client needs to react, e.g. `existing_candidate_id` for a duplicate; `headers`
    carries response headers such as `Retry-After`.
    """

    status: ClassVar[int] = HTTPStatus.BAD_REQUEST

    def __init__(
        self, message: str, *, status: int | None = None, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status  # type: ignore[misc]
        self.headers = headers
        self.extra = extra

    @property
    def detail(self) -> str:
        return self.message

    def body(self) -> dict[str, Any]:
        return {"detail": self.message, **self.extra}


class BadRequest(AppError):
    status = HTTPStatus.BAD_REQUEST


class Unauthorized(AppError):
    status = HTTPStatus.UNAUTHORIZED


class Forbidden(AppError):
    status = HTTPStatus.FORBIDDEN


class NotFound(AppError):
    status = HTTPStatus.NOT_FOUND


class Conflict(AppError):
    status = HTTPStatus.CONFLICT


class Gone(AppError):
    status = HTTPStatus.GONE


class PayloadTooLarge(AppError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class UnsupportedMediaType(AppError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


class Unprocessable(AppError):
    """A request the rules refuse. Like a validation error it lists `errors`: the field (as `body.vacancy_id`)
    when one is to blame, else none."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.field = field

    def body(self) -> dict[str, Any]:
        errors = [{"field": self.field, "message": self.message}] if self.field else []
        return {"detail": self.message, "errors": errors, **self.extra}


class TooManyRequests(AppError):
    status = HTTPStatus.TOO_MANY_REQUESTS


class BadGateway(AppError):
    status = HTTPStatus.BAD_GATEWAY


class ServiceUnavailable(AppError):
    status = HTTPStatus.SERVICE_UNAVAILABLE


INTERNAL = "Внутренняя ошибка сервера. Попробуйте ещё раз; если ошибка повторится, сообщите администратору."
DATABASE_BUSY = (
    "Сервер перегружен или база данных недоступна. Попробуйте ещё раз через несколько секунд; "
    "если ошибка повторится, сообщите администратору."
)
