"""How a provider call fails: the error kinds, their Russian descriptions, and the checks that decide whether
a reply is complete."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from enum import StrEnum
from typing import Any

from app.ai.types import Attempt, Delta, Finish, ProviderEvent, StructuredReply


class ErrorKind(StrEnum):
    CONNECT = "connect"
    TLS = "tls"
    TIMEOUT = "timeout"
    FIRST_TOKEN_TIMEOUT = "first_token_timeout"
    STALL = "stall"
    DEADLINE = "deadline"
    AUTH = "auth"
    PAYMENT = "payment"
    RATE_LIMIT = "rate_limit"
    SERVER = "server"
    BAD_REQUEST = "bad_request"
    BLACKLIST = "blacklist"
    MODEL_ERROR = "model_error"
    EMPTY = "empty"
    TRUNCATED = "truncated"
    MALFORMED = "malformed"
    BUSY = "busy"
    BREAKER_OPEN = "breaker_open"
    QUOTA = "quota"


_DESCRIPTIONS: dict[ErrorKind, str] = {
    ErrorKind.CONNECT: "не удалось подключиться",
    ErrorKind.TLS: "ошибка проверки TLS-сертификата",
    ErrorKind.TIMEOUT: "превышено время ожидания сети",
    ErrorKind.FIRST_TOKEN_TIMEOUT: "модель не начала отвечать вовремя",
    ErrorKind.STALL: "ответ прервался: модель замолчала",
    ErrorKind.DEADLINE: "ответ не уложился в общее время",
    ErrorKind.AUTH: "ошибка авторизации",
    ErrorKind.PAYMENT: "закончился пакет токенов или средства",
    ErrorKind.RATE_LIMIT: "слишком много запросов",
    ErrorKind.SERVER: "ошибка на стороне сервиса",
    ErrorKind.BAD_REQUEST: "сервис отклонил запрос",
    ErrorKind.BLACKLIST: "ответ заблокирован цензором",
    ErrorKind.MODEL_ERROR: "модель завершила ответ с ошибкой",
    ErrorKind.EMPTY: "пустой ответ",
    ErrorKind.TRUNCATED: "соединение оборвалось до конца ответа",
    ErrorKind.MALFORMED: "некорректные данные в потоке ответа",
    ErrorKind.BUSY: "все слоты заняты, очередь не дождалась",
    ErrorKind.BREAKER_OPEN: "временно отключён после серии ошибок",
    ErrorKind.QUOTA: "дневной лимит запросов исчерпан",
}

# Failures that say nothing about the provider's health do not trip its breaker.
_NOT_HEALTH = frozenset(
    {ErrorKind.BAD_REQUEST, ErrorKind.BLACKLIST, ErrorKind.BUSY, ErrorKind.BREAKER_OPEN, ErrorKind.QUOTA}
)
# Refused before anything was sent upstream: no request to count against the provider's quota.
NOT_SENT = frozenset({ErrorKind.BUSY, ErrorKind.BREAKER_OPEN, ErrorKind.QUOTA})


class ProviderError(Exception):
    """A classified, secret-free provider failure."""

    def __init__(
        self,
        kind: ErrorKind,
        detail: str | None = None,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.kind = kind
        self.detail = detail
        self.status = status
        self.retry_after = retry_after
        super().__init__(self.describe())

    def describe(self) -> str:
        text = _DESCRIPTIONS[self.kind]
        if self.status is not None:
            text += f" (HTTP {self.status})"
        if self.detail:
            text += f": {self.detail}"
        return text

    @property
    def counts_against_health(self) -> bool:
        return self.kind not in _NOT_HEALTH


def http_error(status: int, detail: str | None, retry_after: float | None = None) -> ProviderError:
    """Classify an HTTP error status the same way for every provider."""
    if status == 429:
        return ProviderError(ErrorKind.RATE_LIMIT, detail, status=status, retry_after=retry_after)
    if status in (401, 403):
        return ProviderError(ErrorKind.AUTH, detail, status=status)
    if status == 402:
        return ProviderError(ErrorKind.PAYMENT, detail, status=status)
    if status >= 500 or status == 408:
        return ProviderError(ErrorKind.SERVER, detail, status=status)
    return ProviderError(ErrorKind.BAD_REQUEST, detail, status=status)


def finish_event(finish_reason: str | None, model: str | None, usage: object) -> Finish | None:
    """The closing event from the last chunks of a stream; None when the stream never said it was finished."""
    if finish_reason is None:
        return None
    return Finish(
        finish_reason=finish_reason,
        model=model,
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
    )


class AllProvidersFailed(Exception):
    def __init__(self, attempts: list[Attempt]) -> None:
        self.attempts = attempts
        super().__init__("; ".join(f"{a.provider}: {a.detail}" for a in attempts) or "no provider configured")

    @property
    def user_message(self) -> str:
        if not self.attempts:
            return "ИИ не настроен: задайте GIGACHAT_API_KEY или OPENROUTER_API_KEY. Сообщение сохранено."
        return "Не удалось получить ответ ИИ: все провайдеры недоступны. Сообщение сохранено, попробуйте повторить."


async def collect_text(events: AsyncIterator[ProviderEvent]) -> str:
    """One provider's whole streamed reply, checked like the chain checks it (no fallback)."""
    parts: list[str] = []
    finish: Finish | None = None
    async for event in events:
        if isinstance(event, Delta):
            parts.append(event.text)
        else:
            finish = event
    text = "".join(parts)
    check_finish(finish, text)
    return text


def check_finish(finish: Finish | None, text: str) -> None:
    """A reply is complete only when the provider closed it properly; anything else is a failure."""
    if finish is None:
        raise ProviderError(ErrorKind.TRUNCATED, "поток закончился без финального события")
    if finish.finish_reason == "blacklist":
        raise ProviderError(ErrorKind.BLACKLIST)
    if finish.finish_reason == "error":
        raise ProviderError(ErrorKind.MODEL_ERROR)
    if not text.strip():
        raise ProviderError(ErrorKind.EMPTY)


def check_structured(reply: StructuredReply) -> dict[str, Any] | str:
    """The reply's document. Refusals and empty answers are the provider's failure (the next one may do
    better); a document that does not match the schema is the caller's to repair."""
    if reply.finish_reason == "blacklist":
        raise ProviderError(ErrorKind.BLACKLIST)
    if reply.finish_reason == "error":
        raise ProviderError(ErrorKind.MODEL_ERROR)
    if reply.data is None or (isinstance(reply.data, str) and not reply.data.strip()):
        raise ProviderError(ErrorKind.EMPTY)
    return reply.data


def describe_attempts(attempts: list[Attempt]) -> Iterator[str]:
    for a in attempts:
        yield f"{a.provider}: {a.detail}"
