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
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes import error_attributes
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer

from app.ai.errors import (
    NOT_SENT,
    AllProvidersFailed,
    ErrorKind,
    ProviderError,
    check_finish,
    check_structured,
)
from app.ai.resilience import Breaker, Limiter, Timeouts
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
    limiter: Limiter
    breaker: Breaker
    hedge_after: float | None = None
    """Seconds without a first token from the provider before this one, after which this one is started in
    parallel (a hedge); None: only after that provider has failed."""


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
    lost_race: bool = False
    """Cancelled because a hedged provider answered first."""

    @property
    def sent(self) -> bool:
        """Whether a request reached the provider (and so counts against its quota)."""
        return self.outcome not in NOT_SENT


@dataclass(frozen=True)
class Answered:
    """A structured attempt's whole answer, carried through the shared fallback loop."""

    result: StructuredResult


class _Sent:
    """The attempt has its concurrency slot and is sending the request: the first-token clock starts."""


SENT = _Sent()
HEDGED = "hedged"
"""`Attempt.error` of a provider that got no first token in time, so the next one was asked in parallel."""
LOST_RACE = "lost_race"
"""`Attempt.error` (and call outcome) of a provider cancelled because another one answered first."""
RETRIED = "retried"
"""`Attempt.error` of a transient failure that was retried once on the same provider."""
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})

_Final = Done | Answered
_Event = Delta | _Final | _Sent
"""What one attempt yields: `SENT`, deltas (streamed calls only), then its final `Done` or `Answered`."""
_Item = _Event | ProviderError
AttemptRunner = Callable[["ProviderSlot", list[Attempt], "CallRecord"], AsyncGenerator[_Event, None]]


@dataclass
class _Budget:
    """Seconds a call may still spend waiting before retries, shared by every provider of the call."""

    left: float


@dataclass
class _Runner:
    """One provider's attempt within a call, as the fallback loop tracks it."""

    index: int
    slot: ProviderSlot
    context: Context | None = None
    """The turn's tracing context: every attempt's span is a child of the turn's."""
    hedge: bool = False
    """Started as a hedge, alongside a provider still waiting for its first token."""
    task: asyncio.Task[None] | None = None
    call: CallRecord | None = None
    sent_at: float | None = None
    sent_text: bool = False
    hedged: bool = False
    finished: bool = False


async def _shielded(awaitable: Awaitable[None]) -> None:
    """Bookkeeping that must finish even when the call around it is being cancelled."""
    task = asyncio.ensure_future(awaitable)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


class ChainObserver(Protocol):
    """Quota, usage, metrics and logs hang off the chain here, so the chain itself stays about routing."""

    async def admit(self, provider: str) -> ProviderError | None:
        """A reason to skip the provider before calling it (e.g. its daily quota is spent), or None."""
        ...

    async def finished(self, call: CallRecord) -> None: ...

    def fallback(self, provider: str, reason: str) -> None: ...


class ProviderChain:
    def __init__(
        self,
        slots: list[ProviderSlot],
        timeouts: Timeouts,
        observer: ChainObserver | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.slots = slots
        self.timeouts = timeouts
        self.observer = observer
        # The global tracer is a no-op until `telemetry.install_tracing` configures an exporter.
        self.tracer = tracer or trace.get_tracer("app.ai.chain")

    @property
    def configured(self) -> bool:
        return bool(self.slots)

    def slot(self, name: str) -> ProviderSlot | None:
        return next((s for s in self.slots if s.provider.name == name), None)

    async def aclose(self) -> None:
        for s in self.slots:
            await s.limiter.aclose()
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

        async with aclosing(self._fallback(attempt, hedge=True)) as events:
            async for event in events:
                if isinstance(event, Answered):  # pragma: no cover - a streamed attempt never yields one
                    raise AssertionError("a streamed attempt answered with a structured result")
                yield event

    async def complete_structured(self, request: LLMRequest, spec: StructuredSpec) -> StructuredResult:
        """One structured answer with the same order, queues, breakers, retries and fallback as `stream()`
        (not hedged: there is no first token to wait for); raise `AllProvidersFailed` carrying why each
        provider failed."""

        def attempt(slot: ProviderSlot, attempts: list[Attempt], call: CallRecord) -> AsyncGenerator[_Event, None]:
            return self._structured_attempt(slot, request, spec, attempts, call)

        async with aclosing(self._fallback(attempt, hedge=False)) as events:
            async for event in events:
                if isinstance(event, Answered):
                    return event.result
        raise AssertionError("chain ended without an answer")  # pragma: no cover

    async def _fallback(self, attempt: AttemptRunner, *, hedge: bool) -> AsyncGenerator[Delta | Restart | _Final]:
        """The one fallback loop of both kinds of call.

        Providers are tried in order, each attempt in its own task (`_run_slot`: gate, breaker, limit, one
        quick retry, a short Retry-After). With `hedge`, a provider that was sent the request and produced no
        first token within the next slot's `hedge_after` gets company: the next provider starts in parallel,
        the first to produce text wins and the other is cancelled (its slot released). A failure after text
        was sent is announced with `Restart`. Ends with the winner's final event, or raises
        `AllProvidersFailed`."""
        attempts: list[Attempt] = []
        budget = _Budget(self.timeouts.retry_after_budget)
        queue: asyncio.Queue[tuple[_Runner, _Item]] = asyncio.Queue()
        runners: list[_Runner] = []
        winner: _Runner | None = None
        answered: _Runner | None = None
        turn = self.tracer.start_span(
            "chat",
            kind=SpanKind.INTERNAL,
            attributes={gen_ai.GEN_AI_OPERATION_NAME: "chat", "nexus.ai.streamed": hedge},
        )
        context = trace.set_span_in_context(turn)

        def launch(*, hedge: bool = False) -> None:
            runner = _Runner(len(runners), self.slots[len(runners)], context=context, hedge=hedge)
            runner.task = asyncio.create_task(self._run_slot(runner, attempt, attempts, budget, queue))
            runners.append(runner)

        def lose(runner: _Runner, to: _Runner) -> None:
            runner.finished = True
            if runner.call is not None:
                runner.call.lost_race = True
            assert runner.task is not None
            runner.task.cancel()
            attempts.append(
                Attempt(
                    runner.slot.provider.name, LOST_RACE, f"первым ответил {to.slot.provider.title}, запрос отменён"
                )
            )

        try:
            while True:
                live = [r for r in runners if not r.finished]
                if not live:
                    if len(runners) == len(self.slots):
                        raise AllProvidersFailed(attempts)
                    launch()
                    continue
                hedge_at = self._hedge_at(live, len(runners)) if hedge and winner is None else None
                try:
                    async with asyncio.timeout_at(hedge_at):
                        runner, item = await queue.get()
                except TimeoutError:
                    waiting = live[-1]
                    waiting.hedged = True
                    next_title = self.slots[len(runners)].provider.title
                    attempts.append(
                        Attempt(
                            waiting.slot.provider.name,
                            HEDGED,
                            f"нет первого токена за {self.slots[len(runners)].hedge_after:g} с, "
                            f"параллельно запрошен {next_title}",
                        )
                    )
                    logger.warning("%s: no first token yet, hedging to %s", waiting.slot.provider.title, next_title)
                    launch(hedge=True)
                    continue
                if runner.finished and runner is not winner:
                    continue  # a cancelled loser's last words
                if isinstance(item, _Sent):
                    runner.sent_at = asyncio.get_running_loop().time()
                    continue
                if isinstance(item, ProviderError):
                    runner.finished = True
                    self._record_failure(runner.index, item, attempts)
                    if runner is winner:
                        winner = None
                        if runner.sent_text:
                            yield Restart(runner.slot.provider.name, item.describe())
                    continue
                if winner is None:
                    winner = runner
                    for other in live:
                        if other is not runner:
                            lose(other, runner)
                if isinstance(item, Delta):
                    runner.sent_text = True
                    yield item
                    continue
                runner.finished = True
                answered = runner
                self._log_fallback_used(runner.index, runner.slot)
                # The attempts as they stand now: a race may have been settled after the answer was built.
                item.result.attempts = list(attempts)
                yield item
                return
        finally:
            pending = [r.task for r in runners if r.task is not None and not r.task.done()]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
            self._end_turn_span(turn, answered, runners, attempts)

    @staticmethod
    def _end_turn_span(span: Span, answered: _Runner | None, runners: list[_Runner], attempts: list[Attempt]) -> None:
        span.set_attribute("nexus.ai.hedged", any(r.hedged for r in runners))
        span.set_attribute("nexus.ai.retried", sum(a.error == RETRIED for a in attempts))
        span.set_attribute("nexus.ai.attempts", len(runners))
        if answered is not None:
            span.set_attribute(gen_ai.GEN_AI_PROVIDER_NAME, answered.slot.provider.name)
            if answered.call is not None and answered.call.model:
                span.set_attribute(gen_ai.GEN_AI_RESPONSE_MODEL, answered.call.model)
        else:
            failed = attempts[-1].error if attempts else "no_provider"
            span.set_attribute(error_attributes.ERROR_TYPE, failed)
            span.set_status(StatusCode.ERROR, "every provider failed")
        span.end()

    def _attempt_span(self, runner: _Runner, retry: bool) -> Span:
        provider = runner.slot.provider
        return self.tracer.start_span(
            f"chat {provider.model}",
            context=runner.context,
            kind=SpanKind.CLIENT,
            attributes={
                gen_ai.GEN_AI_OPERATION_NAME: "chat",
                gen_ai.GEN_AI_PROVIDER_NAME: provider.name,
                gen_ai.GEN_AI_SYSTEM: provider.name,
                gen_ai.GEN_AI_REQUEST_MODEL: provider.model,
                "nexus.ai.retry": retry,
                "nexus.ai.hedge": runner.hedge,
            },
        )

    @staticmethod
    def _end_attempt_span(span: Span, runner: _Runner) -> None:
        call = runner.call
        span.set_attribute("nexus.ai.hedged", runner.hedged)
        if call is not None:
            if call.model:
                span.set_attribute(gen_ai.GEN_AI_RESPONSE_MODEL, call.model)
            if call.prompt_tokens is not None:
                span.set_attribute(gen_ai.GEN_AI_USAGE_INPUT_TOKENS, call.prompt_tokens)
            if call.completion_tokens is not None:
                span.set_attribute(gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS, call.completion_tokens)
            span.set_attribute("nexus.ai.lost_race", call.lost_race)
            if call.outcome != "ok":
                span.set_attribute(error_attributes.ERROR_TYPE, call.outcome)
                if not call.lost_race:
                    span.set_status(StatusCode.ERROR, call.outcome)
        span.end()

    def _hedge_at(self, live: list[_Runner], next_index: int) -> float | None:
        """When to start the next provider alongside the one still waiting for its first token, or None."""
        if next_index >= len(self.slots) or len(live) != 1:
            return None
        hedge_after = self.slots[next_index].hedge_after
        waiting = live[0]
        if hedge_after is None or waiting.sent_at is None or waiting.sent_text:
            return None
        return waiting.sent_at + hedge_after

    async def _run_slot(
        self,
        runner: _Runner,
        attempt: AttemptRunner,
        attempts: list[Attempt],
        budget: _Budget,
        queue: asyncio.Queue[tuple[_Runner, _Item]],
    ) -> None:
        """One provider's part of a call, posted to `queue`: `_Sent`, deltas, then the final event or the
        `ProviderError` that ended it (after at most one quick retry and any short Retry-After waits)."""
        slot = runner.slot
        retried = False
        while True:
            sent_text = False
            runner.call = None
            span = self._attempt_span(runner, retried)
            ended = False
            try:
                async with self._admitted(slot) as call:
                    runner.call = call
                    async with aclosing(attempt(slot, attempts, call)) as events:
                        async for event in events:
                            if isinstance(event, Delta):
                                sent_text = True
                            elif not isinstance(event, _Sent):
                                # Recorded before the answer is handed on: a consumer may stop reading there.
                                call.completed = True
                                await slot.breaker.record_success()
                            queue.put_nowait((runner, event))
                    return
            except ProviderError as exc:
                if not sent_text:
                    wait = self._rate_limit_wait(slot, exc, budget.left)
                    if wait is None and not retried:
                        wait = self._transient_wait(slot, exc, budget.left)
                        if wait is not None:
                            retried = True
                            attempts.append(
                                Attempt(slot.provider.name, RETRIED, f"{exc.describe()}; повтор через {wait:.2f} с")
                            )
                    if wait is not None:
                        budget.left -= wait
                        self._end_attempt_span(span, runner)
                        ended = True
                        await asyncio.sleep(wait)
                        continue
                queue.put_nowait((runner, exc))
                return
            finally:
                if not ended:
                    self._end_attempt_span(span, runner)

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
            if not await slot.breaker.allow():
                raise ProviderError(ErrorKind.BREAKER_OPEN)
            try:
                yield call
            except ProviderError as exc:
                if exc.counts_against_health:
                    await slot.breaker.record_failure()
                else:
                    await slot.breaker.release()
                raise
            except BaseException:
                await _shielded(slot.breaker.release())
                raise
        except ProviderError as exc:
            call.outcome = exc.kind.value
            raise
        except BaseException:
            if not call.completed:
                call.outcome = LOST_RACE if call.lost_race else "cancelled"
            raise
        finally:
            if self.observer is not None:
                await _shielded(self.observer.finished(call))

    @staticmethod
    def _rate_limit_wait(slot: ProviderSlot, exc: ProviderError, budget: float) -> float | None:
        """A short Retry-After is honoured on the same provider rather than switching models."""
        wait = exc.retry_after
        if exc.kind is ErrorKind.RATE_LIMIT and wait is not None and wait <= budget:
            logger.info("%s asked to retry after %.1f s", slot.provider.title, wait)
            return wait
        return None

    def _transient_wait(self, slot: ProviderSlot, exc: ProviderError, budget: float) -> float | None:
        """A jittered pause before the one quick retry of a transient failure (5xx gateway trouble, a reset
        connection) that came before any text; None for everything else."""
        transient = (exc.kind is ErrorKind.SERVER and exc.status in TRANSIENT_STATUSES) or (
            exc.kind is ErrorKind.TRUNCATED and exc.status is None
        )
        if not transient or self.timeouts.retry_delay <= 0:
            return None
        wait = self.timeouts.retry_delay * random.uniform(0.5, 1.5)
        if wait > budget:
            return None
        logger.info("%s: %s, one quick retry in %.2f s", slot.provider.title, exc.describe(), wait)
        return wait

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
        async with slot.limiter.slot(request.background) as waited:
            call.queue_wait_ms = round(waited * 1000)
            yield SENT
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
        async with slot.limiter.slot(request.background) as waited:
            call.queue_wait_ms = round(waited * 1000)
            yield SENT
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
        """Enforce the first-token limit until `received` has text, then the idle limit between events.

        One timeout for the whole stream, armed for each wait and disarmed while the event is handed on (a
        consumer that takes its time is not the provider stalling): half the cost per event of a timeout
        context each. It can only fire during the wait, so the cancellation it sends lands there."""
        iterator = aiter(events)
        loop = asyncio.get_running_loop()
        limit, kind = 0.0, ErrorKind.FIRST_TOKEN_TIMEOUT
        try:
            async with asyncio.timeout(None) as deadline:
                while True:
                    if received:
                        limit, kind = self.timeouts.idle, ErrorKind.STALL
                    else:
                        limit = max(0.0, started + self.timeouts.first_token - time.monotonic())
                    deadline.reschedule(loop.time() + limit)
                    try:
                        event = await anext(iterator)
                    except StopAsyncIteration:
                        return
                    deadline.reschedule(None)
                    yield event
        except TimeoutError:
            raise ProviderError(kind, f"нет данных {limit:g} с") from None
