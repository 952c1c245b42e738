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
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from app.ai.errors import (
    NOT_SENT,
    AllProvidersFailed,
    ErrorKind,
    ProviderError,
    check_finish,
    check_structured,
)
from app.ai.resilience import CircuitBreaker, ConcurrencyLimiter, Timeouts
from app.ai.types import (
    Attempt,
    ChainEvent,
    Delta,
    Done,
    Finish,
    LLMRequest,
    LLMResult,
    Provider,
    ProviderEvent,
    Restart,
    StructuredResult,
    StructuredSpec,
)

logger = logging.getLogger("app.ai.chain")


@dataclass
class ProviderSlot:
    provider: Provider
    limiter: ConcurrencyLimiter
    breaker: CircuitBreaker


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


@dataclass(frozen=True)
class Answered:
    """A structured attempt's whole answer, carried through the shared fallback loop."""

    result: StructuredResult


_Event = Delta | Done | Answered
"""What one attempt yields: deltas (streamed calls only), then its final `Done` or `Answered`."""
AttemptRunner = Callable[["ProviderSlot", list[Attempt], "CallRecord"], AsyncGenerator[_Event, None]]


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

        def attempt(slot: ProviderSlot, attempts: list[Attempt], call: CallRecord) -> AsyncGenerator[_Event, None]:
            return self._attempt(slot, request, attempts, call)

        async with aclosing(self._fallback(attempt)) as events:
            async for event in events:
                if isinstance(event, Answered):  # pragma: no cover - a streamed attempt never yields one
                    raise AssertionError("a streamed attempt answered with a structured result")
                yield event

    async def complete_structured(self, request: LLMRequest, spec: StructuredSpec) -> StructuredResult:
        """One structured answer with the same order, queues, breakers, Retry-After handling and fallback as
        `stream()`; raise `AllProvidersFailed` carrying why each provider failed."""

        def attempt(slot: ProviderSlot, attempts: list[Attempt], call: CallRecord) -> AsyncGenerator[_Event, None]:
            return self._structured_attempt(slot, request, spec, attempts, call)

        async with aclosing(self._fallback(attempt)) as events:
            async for event in events:
                if isinstance(event, Answered):
                    return event.result
        raise AssertionError("chain ended without an answer")  # pragma: no cover

    async def _fallback(self, attempt: AttemptRunner) -> AsyncGenerator[_Event | Restart, None]:
        """The one fallback loop of both kinds of call: providers in order, each through its gate, breaker and
        limit; a short Retry-After honoured on the same provider; a failure after text was sent announced with
        `Restart`. Ends with the winning attempt's final event, or raises `AllProvidersFailed`."""
        attempts: list[Attempt] = []
        retry_budget = self.timeouts.retry_after_budget
        for index, slot in enumerate(self.slots):
            while True:
                sent_text = False
                try:
                    async with self._admitted(slot) as call:
                        async with aclosing(attempt(slot, attempts, call)) as events:
                            async for event in events:
                                if isinstance(event, Delta):
                                    sent_text = True
                                    yield event
                                    continue
                                # Recorded before yielding: a consumer may stop reading at the answer.
                                call.completed = True
                                slot.breaker.record_success()
                                self._log_fallback_used(index, slot)
                                yield event
                                return
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
    ) -> AsyncGenerator[_Event, None]:
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
        yield Answered(
            StructuredResult(
                data=check_structured(reply),
                provider=provider.name,
                model=reply.model or provider.model,
                finish_reason=reply.finish_reason,
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens,
                latency_ms=round((time.monotonic() - started) * 1000),
                attempts=list(attempts),
            )
        )

    async def _attempt(
        self, slot: ProviderSlot, request: LLMRequest, attempts: list[Attempt], call: CallRecord
    ) -> AsyncGenerator[_Event, None]:
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
