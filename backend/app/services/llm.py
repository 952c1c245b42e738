"""Provider chain: GigaChat first, OpenRouter on fallback.

For every provider in order: skip it while its breaker is open → wait for a concurrency slot in a bounded
queue → stream with first-token, idle and total deadlines → classify the failure → try the next provider.
Upstream calls always stream, even for the blocking endpoint, because that is how a provider that accepted
the request and then went silent is noticed within seconds.

Structured answers (a JSON document that must match a schema) take the same path with one difference: the
provider is asked for the whole document at once, so a single deadline replaces the streaming ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from pydantic import BaseModel

    from app.core.config import Settings

logger = logging.getLogger("app.llm")

Clock = Callable[[], float]


@dataclass(frozen=True)
class LLMRequest:
    messages: list[dict[str, str]]
    temperature: float
    max_tokens: int


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Finish:
    """The provider's closing event: what it says it served and why it stopped."""

    finish_reason: str | None
    model: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


ProviderEvent = Delta | Finish


@dataclass(frozen=True)
class StructuredSpec:
    """A JSON document the model must produce: a GigaChat function, an OpenAI-style `json_schema`."""

    name: str
    """Latin letters, digits and underscores: GigaChat rejects any other function name."""
    description: str
    schema: dict[str, Any]

    @classmethod
    def from_model(cls, name: str, description: str, model: type[BaseModel]) -> StructuredSpec:
        return cls(name, description, portable_schema(model))


@dataclass(frozen=True)
class StructuredReply:
    """What a provider returned for a structured request, before anyone checked it against the schema."""

    data: dict[str, Any] | str | None
    """Function-call arguments (GigaChat), or the message text that should hold the JSON document."""
    finish_reason: str | None
    model: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


_SCHEMA_KEYWORDS = frozenset({"type", "description", "enum", "items", "properties", "required"})


def portable_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema cut down to what both GigaChat functions and OpenAI-style structured output
    accept: references inlined, optional fields as their plain type, every property required, no titles,
    defaults or bounds. Bounds are still enforced: the reply is validated against the model itself."""
    full = model.model_json_schema()
    definitions: dict[str, Any] = full.get("$defs", {})

    def convert(node: dict[str, Any]) -> dict[str, Any]:
        description = node.get("description")
        if "$ref" in node:
            node = definitions[node["$ref"].rsplit("/", 1)[-1]]
        if "anyOf" in node:
            concrete = [option for option in node["anyOf"] if option.get("type") != "null"]
            if len(concrete) == 1:
                node = {**concrete[0], **({"description": description} if description else {})}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "properties":
                out[key] = {name: convert(sub) for name, sub in value.items()}
            elif key == "items":
                out[key] = convert(value)
            elif key in _SCHEMA_KEYWORDS:
                out[key] = value
        if description and "description" not in out:
            out["description"] = description
        if out.get("type") == "object":
            out["required"] = list(out.get("properties", {}))
        return out

    return convert(full)


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


class Provider(Protocol):
    name: str
    title: str
    model: str
    max_concurrency: int

    def stream(self, request: LLMRequest) -> AsyncGenerator[ProviderEvent, None]:
        """Yield deltas then one `Finish`; raise `ProviderError` on any failure."""
        ...

    async def complete_structured(self, request: LLMRequest, spec: StructuredSpec) -> StructuredReply:
        """Ask for one JSON document shaped by `spec` (not streamed); raise `ProviderError` on any failure."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Attempt:
    provider: str
    error: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"provider": self.provider, "error": self.error, "detail": self.detail}


@dataclass
class LLMResult:
    text: str
    provider: str
    model: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: int
    ttft_ms: int | None
    attempts: list[Attempt] = field(default_factory=list)


@dataclass
class StructuredResult:
    """A structured reply that came back whole; whether it matches the schema is the caller's check."""

    data: dict[str, Any] | str
    provider: str
    model: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: int
    attempts: list[Attempt] = field(default_factory=list)


@dataclass(frozen=True)
class Restart:
    """The chain switched provider after text was already sent: the client must discard it."""

    failed_provider: str
    reason: str


@dataclass(frozen=True)
class Done:
    result: LLMResult


ChainEvent = Delta | Restart | Done


class AllProvidersFailed(Exception):
    def __init__(self, attempts: list[Attempt]) -> None:
        self.attempts = attempts
        super().__init__("; ".join(f"{a.provider}: {a.detail}" for a in attempts) or "no provider configured")

    @property
    def user_message(self) -> str:
        if not self.attempts:
            return "ИИ не настроен: задайте GIGACHAT_API_KEY или OPENROUTER_API_KEY. Сообщение сохранено."
        return "Не удалось получить ответ ИИ: все провайдеры недоступны. Сообщение сохранено, попробуйте повторить."


BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Opens after `threshold` consecutive health failures; after `cooldown` lets one probe through."""

    def __init__(self, threshold: int, cooldown: float, clock: Clock = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._state == "open" and self._clock() - self._opened_at >= self.cooldown:
            return "half_open"
        return self._state

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "open" or self._probe_in_flight:
            return False
        self._state = "half_open"
        self._probe_in_flight = True
        return True

    def record_success(self) -> None:
        self._state = "closed"
        self._failures = 0
        self._probe_in_flight = False

    def record_failure(self) -> None:
        self._probe_in_flight = False
        if self._state == "half_open":
            self._open()
            return
        self._failures += 1
        if self._failures >= self.threshold:
            self._open()

    def release(self) -> None:
        """End an attempt that proved nothing either way (e.g. a rejected request)."""
        self._probe_in_flight = False

    def _open(self) -> None:
        self._state = "open"
        self._opened_at = self._clock()
        self._failures = 0


class ConcurrencyLimiter:
    """At most `capacity` calls in flight; up to `queue_size` more wait `queue_timeout`, the rest are refused."""

    def __init__(self, capacity: int, queue_size: int, queue_timeout: float) -> None:
        self.capacity = capacity
        self.queue_size = queue_size
        self.queue_timeout = queue_timeout
        self._semaphore = asyncio.Semaphore(capacity)
        self._waiting = 0
        self.in_flight = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Yield the seconds spent waiting for the slot."""
        started = time.monotonic()
        if self._semaphore.locked():
            if self._waiting >= self.queue_size:
                raise ProviderError(ErrorKind.BUSY, "очередь запросов переполнена")
            self._waiting += 1
            try:
                async with asyncio.timeout(self.queue_timeout):
                    await self._semaphore.acquire()
            except TimeoutError:
                raise ProviderError(ErrorKind.BUSY, f"ожидание дольше {self.queue_timeout:g} с") from None
            finally:
                self._waiting -= 1
        else:
            await self._semaphore.acquire()
        self.in_flight += 1
        try:
            yield time.monotonic() - started
        finally:
            self.in_flight -= 1
            self._semaphore.release()


@dataclass
class ProviderSlot:
    provider: Provider
    limiter: ConcurrencyLimiter
    breaker: CircuitBreaker


@dataclass(frozen=True)
class Timeouts:
    first_token: float
    idle: float
    total: float
    retry_after_budget: float
    structured: float = 120.0
    """The whole of one non-streamed structured answer."""


@dataclass
class CallRecord:
    """One attempt at one provider, as the chain saw it; filled in while the attempt runs."""

    provider: str
    outcome: str = "ok"
    model: str | None = None
    latency_ms: int | None = None
    ttft_ms: int | None = None
    queue_wait_ms: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    completed: bool = False
    """The answer is complete; a consumer that stops reading afterwards does not make it a cancellation."""

    @property
    def sent(self) -> bool:
        """Whether a request reached the provider (and so counts against its quota)."""
        return self.outcome not in NOT_SENT


class ChainObserver(Protocol):
    """Quota, usage, metrics and logs hang off the chain here, so the chain itself stays about routing."""

    async def admit(self, provider: str) -> ProviderError | None:
        """A reason to skip the provider before calling it (e.g. its daily quota is spent), or None."""
        ...

    async def finished(self, call: CallRecord) -> None: ...

    def fallback(self, provider: str, reason: str) -> None: ...


class ProviderChain:
    def __init__(self, slots: list[ProviderSlot], timeouts: Timeouts, observer: ChainObserver | None = None) -> None:
        self.slots = slots
        self.timeouts = timeouts
        self.observer = observer

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Clock = time.monotonic, observer: ChainObserver | None = None
    ) -> ProviderChain:
        # Imported here: the services import this module for the shared types.
        from app.services.gigachat import GigaChatService
        from app.services.openrouter import OpenRouterService

        providers: list[Provider] = []
        if settings.gigachat_configured:
            providers.append(GigaChatService(settings))
        if settings.openrouter_configured:
            providers.append(OpenRouterService(settings))
        slots = [
            ProviderSlot(
                provider=p,
                limiter=ConcurrencyLimiter(p.max_concurrency, settings.LLM_QUEUE_SIZE, settings.LLM_QUEUE_TIMEOUT),
                breaker=CircuitBreaker(settings.LLM_BREAKER_FAILURES, settings.LLM_BREAKER_COOLDOWN, clock),
            )
            for p in providers
        ]
        timeouts = Timeouts(
            first_token=settings.LLM_FIRST_TOKEN_TIMEOUT,
            idle=settings.LLM_STREAM_IDLE_TIMEOUT,
            total=settings.LLM_TOTAL_TIMEOUT,
            retry_after_budget=settings.LLM_RETRY_AFTER_BUDGET,
            structured=settings.LLM_STRUCTURED_TIMEOUT,
        )
        return cls(slots, timeouts, observer)

    @property
    def configured(self) -> bool:
        return bool(self.slots)

    def slot(self, name: str) -> ProviderSlot | None:
        return next((s for s in self.slots if s.provider.name == name), None)

    async def aclose(self) -> None:
        for s in self.slots:
            await s.provider.aclose()

    async def complete(self, request: LLMRequest) -> LLMResult:
        async with aclosing(self.stream(request)) as events:
            async for event in events:
                if isinstance(event, Done):
                    return event.result
        raise AssertionError("chain stream ended without Done")  # pragma: no cover

    async def stream(self, request: LLMRequest) -> AsyncGenerator[ChainEvent, None]:
        """Yield deltas (with `Restart` when a provider fails mid-answer), then `Done`; or raise
        `AllProvidersFailed` carrying why each provider failed."""
        attempts: list[Attempt] = []
        retry_budget = self.timeouts.retry_after_budget
        for index, slot in enumerate(self.slots):
            while True:
                sent_text = False
                try:
                    async with self._admitted(slot) as call:
                        async with aclosing(self._attempt(slot, request, attempts, call)) as events:
                            async for event in events:
                                if isinstance(event, Done):
                                    # Recorded before yielding: a consumer may stop reading at `Done`.
                                    call.completed = True
                                    slot.breaker.record_success()
                                    self._log_fallback_used(index, slot)
                                    yield event
                                    return
                                sent_text = True
                                yield event
                except ProviderError as exc:
                    wait = self._retry_wait(slot, exc, retry_budget, sent_text)
                    if wait is not None:
                        retry_budget -= wait
                        await asyncio.sleep(wait)
                        continue
                    self._record_failure(index, exc, attempts)
                    if sent_text:
                        yield Restart(slot.provider.name, exc.describe())
                    break
        raise AllProvidersFailed(attempts)

    async def complete_structured(self, request: LLMRequest, spec: StructuredSpec) -> StructuredResult:
        """One structured answer with the same order, queues, breakers, Retry-After handling and fallback as
        `stream()`; raise `AllProvidersFailed` carrying why each provider failed."""
        attempts: list[Attempt] = []
        retry_budget = self.timeouts.retry_after_budget
        for index, slot in enumerate(self.slots):
            while True:
                try:
                    async with self._admitted(slot) as call:
                        result = await self._structured_attempt(slot, request, spec, attempts, call)
                        call.completed = True
                        slot.breaker.record_success()
                except ProviderError as exc:
                    wait = self._retry_wait(slot, exc, retry_budget, sent_text=False)
                    if wait is not None:
                        retry_budget -= wait
                        await asyncio.sleep(wait)
                        continue
                    self._record_failure(index, exc, attempts)
                    break
                self._log_fallback_used(index, slot)
                return result
        raise AllProvidersFailed(attempts)

    @asynccontextmanager
    async def _admitted(self, slot: ProviderSlot) -> AsyncIterator[CallRecord]:
        """Let a call through the observer's gate and the provider's breaker, report a failure back to the
        breaker, and tell the observer how the call ended; the caller records success at the moment the
        answer is complete."""
        call = CallRecord(slot.provider.name)
        try:
            denied = await self.observer.admit(slot.provider.name) if self.observer else None
            if denied is not None:
                raise denied
            if not slot.breaker.allow():
                raise ProviderError(ErrorKind.BREAKER_OPEN)
            try:
                yield call
            except ProviderError as exc:
                if exc.counts_against_health:
                    slot.breaker.record_failure()
                else:
                    slot.breaker.release()
                raise
            except BaseException:
                slot.breaker.release()
                raise
        except ProviderError as exc:
            call.outcome = exc.kind.value
            raise
        except BaseException:
            if not call.completed:
                call.outcome = "cancelled"
            raise
        finally:
            if self.observer is not None:
                await self.observer.finished(call)

    @staticmethod
    def _retry_wait(slot: ProviderSlot, exc: ProviderError, budget: float, sent_text: bool) -> float | None:
        """Seconds to wait before asking the same provider again, or None to move on."""
        wait = exc.retry_after
        if exc.kind is ErrorKind.RATE_LIMIT and not sent_text and wait is not None and wait <= budget:
            # Honour a short Retry-After on the same provider rather than switching models.
            logger.info("%s asked to retry after %.1f s", slot.provider.title, wait)
            return wait
        return None

    def _record_failure(self, index: int, exc: ProviderError, attempts: list[Attempt]) -> None:
        provider = self.slots[index].provider
        attempts.append(Attempt(provider.name, exc.kind.value, exc.describe()))
        if index + 1 < len(self.slots):
            next_title = self.slots[index + 1].provider.title
            logger.warning("⚠️ %s error, fallback to %s: %s", provider.title, next_title, exc.describe())
            if self.observer is not None:
                self.observer.fallback(provider.name, exc.kind.value)
        else:
            logger.error("%s error, no provider left: %s", provider.title, exc.describe())

    @staticmethod
    def _log_fallback_used(index: int, slot: ProviderSlot) -> None:
        if index > 0:
            logger.info("✅ Использован %s для ответа", slot.provider.title)

    async def _structured_attempt(
        self,
        slot: ProviderSlot,
        request: LLMRequest,
        spec: StructuredSpec,
        attempts: list[Attempt],
        call: CallRecord,
    ) -> StructuredResult:
        provider = slot.provider
        async with slot.limiter.slot() as waited:
            call.queue_wait_ms = round(waited * 1000)
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.timeouts.structured):
                    reply = await provider.complete_structured(request, spec)
            except TimeoutError:
                raise ProviderError(ErrorKind.DEADLINE, f"дольше {self.timeouts.structured:g} с") from None
            finally:
                call.latency_ms = round((time.monotonic() - started) * 1000)
        call.model, call.prompt_tokens, call.completion_tokens = (
            reply.model,
            reply.prompt_tokens,
            reply.completion_tokens,
        )
        return StructuredResult(
            data=check_structured(reply),
            provider=provider.name,
            model=reply.model or provider.model,
            finish_reason=reply.finish_reason,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            latency_ms=round((time.monotonic() - started) * 1000),
            attempts=list(attempts),
        )

    async def _attempt(
        self, slot: ProviderSlot, request: LLMRequest, attempts: list[Attempt], call: CallRecord
    ) -> AsyncGenerator[ChainEvent, None]:
        provider = slot.provider
        async with slot.limiter.slot() as waited:
            call.queue_wait_ms = round(waited * 1000)
            started = time.monotonic()
            chunks: list[str] = []
            finish: Finish | None = None
            ttft: float | None = None
            try:
                async with asyncio.timeout(self.timeouts.total):
                    async with aclosing(provider.stream(request)) as events:
                        async for event in self._with_deadlines(events, started, chunks):
                            if isinstance(event, Finish):
                                finish = event
                                continue
                            if event.text:
                                if ttft is None:
                                    ttft = time.monotonic() - started
                                chunks.append(event.text)
                                yield event
            except TimeoutError:
                raise ProviderError(ErrorKind.DEADLINE, f"дольше {self.timeouts.total:g} с") from None
            finally:
                call.latency_ms = round((time.monotonic() - started) * 1000)
                call.ttft_ms = round(ttft * 1000) if ttft is not None else None
        if finish is not None:
            call.model, call.prompt_tokens, call.completion_tokens = (
                finish.model,
                finish.prompt_tokens,
                finish.completion_tokens,
            )
        text = "".join(chunks)
        check_finish(finish, text)
        assert finish is not None
        yield Done(
            LLMResult(
                text=text,
                provider=provider.name,
                model=finish.model or provider.model,
                finish_reason=finish.finish_reason,
                prompt_tokens=finish.prompt_tokens,
                completion_tokens=finish.completion_tokens,
                latency_ms=round((time.monotonic() - started) * 1000),
                ttft_ms=round(ttft * 1000) if ttft is not None else None,
                attempts=list(attempts),
            )
        )

    async def _with_deadlines(
        self, events: AsyncGenerator[ProviderEvent, None], started: float, received: list[str]
    ) -> AsyncGenerator[ProviderEvent, None]:
        """Enforce the first-token limit until `received` has text, then the idle limit between events."""
        iterator = aiter(events)
        while True:
            if received:
                limit, kind = self.timeouts.idle, ErrorKind.STALL
            else:
                limit = max(0.0, started + self.timeouts.first_token - time.monotonic())
                kind = ErrorKind.FIRST_TOKEN_TIMEOUT
            try:
                async with asyncio.timeout(limit):
                    event = await anext(iterator)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise ProviderError(kind, f"нет данных {limit:g} с") from None
            yield event


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
