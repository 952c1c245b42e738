"""What the provider chain reports: daily usage and the GigaChat quota (in the database, so every instance
agrees), Prometheus metrics, and one log line per AI call.

A chat turn keeps its accounting in its own two transactions (`TurnUsage`): the quota is reserved in the
transaction that stores the user's message, and the usage of every call is recorded in the one that stores the
reply (or the failure). Other AI calls (analysis) reserve and record in transactions of their own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any
from zoneinfo import ZoneInfo

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.ai.chain import CallRecord, ProviderChain
from app.ai.errors import ErrorKind, ProviderError
from app.core.config import Settings
from app.models import ProviderUsage

logger = logging.getLogger("app.ai")

QUOTA_ZONE = ZoneInfo("Europe/Moscow")
"""Sber counts GigaChat's daily package by the Moscow day."""
QUOTA_WARNING_SHARE = 0.8
_BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}
_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)


def today() -> date:
    return datetime.now(QUOTA_ZONE).date()


class Metrics:
    """Per-app registry: many apps in one process (tests) never share counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "nexus_llm_requests", "AI calls by provider and outcome", ["provider", "outcome"], registry=self.registry
        )
        self.fallbacks = Counter(
            "nexus_llm_fallbacks",
            "Switches to the next provider, by reason",
            ["provider", "reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "nexus_llm_latency_seconds", "Whole AI call", ["provider"], buckets=_LATENCY_BUCKETS, registry=self.registry
        )
        self.ttft = Histogram(
            "nexus_llm_time_to_first_token_seconds",
            "Time to the first streamed token",
            ["provider"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "nexus_llm_queue_wait_seconds",
            "Wait for a concurrency slot",
            ["provider"],
            buckets=(0.01, 0.1, 0.5, 1, 2, 5, 10, 30),
            registry=self.registry,
        )
        self.tokens = Counter(
            "nexus_llm_tokens", "Tokens by provider and kind", ["provider", "kind"], registry=self.registry
        )
        self.breaker = Gauge(
            "nexus_llm_breaker_state",
            "Circuit breaker: 0 closed, 1 half-open, 2 open",
            ["provider"],
            registry=self.registry,
        )

    async def observe_breakers(self, chain: ProviderChain) -> None:
        for slot in chain.slots:
            try:
                state = await slot.breaker.current_state()
            except Exception:  # the database is down: report what this process last saw
                state = slot.breaker.state
            self.breaker.labels(slot.provider.name).set(_BREAKER_VALUES[state])


@dataclass
class TurnUsage:
    """One chat turn's AI accounting, carried from its first transaction to its last."""

    reserved: set[str] = field(default_factory=set)
    """Providers with today's request reserved in the first transaction and not yet used by a call."""
    full: set[str] = field(default_factory=set)
    """Providers whose daily limit was reached when the turn began."""
    calls: list[CallRecord] = field(default_factory=list)
    """Finished calls, recorded in the last transaction."""


_turn: ContextVar[TurnUsage | None] = ContextVar("nexus_turn_usage", default=None)


class Telemetry:
    """The chain's observer."""

    def __init__(self, settings: Settings, session_factory: async_sessionmaker[AsyncSession], metrics: Metrics) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.metrics = metrics
        self._warned_on: date | None = None

    def _limited(self, provider: str) -> bool:
        return provider == "gigachat" and self.settings.GIGACHAT_DAILY_LIMIT > 0

    def _quota_error(self) -> ProviderError:
        limit = self.settings.GIGACHAT_DAILY_LIMIT
        return ProviderError(ErrorKind.QUOTA, f"{limit} из {limit} за сегодня")

    def _note_count(self, reserved: int) -> None:
        limit = self.settings.GIGACHAT_DAILY_LIMIT
        used_before = reserved - 1
        if used_before >= limit * QUOTA_WARNING_SHARE and self._warned_on != today():
            self._warned_on = today()
            logger.warning("GigaChat daily quota at %d of %d requests (80%% reached)", used_before, limit)

    async def admit(self, provider: str) -> ProviderError | None:
        """For a limited provider, reserve today's request before sending it: the increment and the check are
        one statement, so simultaneous requests (from any instance) can never overshoot the limit. A chat turn
        has made that reservation already, in the transaction that stored its message."""
        if not self._limited(provider):
            return None
        turn = _turn.get()
        if turn is not None and provider in turn.reserved:
            turn.reserved.discard(provider)
            return None
        if turn is not None and provider in turn.full:
            turn.full.discard(provider)
            return self._quota_error()
        try:
            reserved = await reserve_request(self.session_factory, provider, self.settings.GIGACHAT_DAILY_LIMIT)
        except Exception:
            # Counting must never cost the recruiter an answer: without the database, let the call through.
            logger.exception("could not reserve GigaChat quota")
            return None
        if reserved is None:
            return self._quota_error()
        self._note_count(reserved)
        return None

    # --- a chat turn's accounting inside its own transactions ---------------------------------------------

    def turn_reservations(self, providers: list[str]) -> list[tuple[str, int]]:
        """(provider, daily limit) of each limited provider a turn over `providers` reserves a request of."""
        return [(p, self.settings.GIGACHAT_DAILY_LIMIT) for p in providers if self._limited(p)]

    def turn_begun(self, counts: dict[str, int | None]) -> TurnUsage:
        """The turn's accounting from its reservations: provider → the new count, or None when it was full."""
        turn = TurnUsage()
        for provider, count in counts.items():
            if count is None:
                turn.full.add(provider)
            else:
                turn.reserved.add(provider)
                self._note_count(count)
        return turn

    async def begin_turn(self, session: AsyncSession, providers: list[str]) -> TurnUsage:
        """In the turn's first transaction (the one storing the user's message), reserve today's request of
        each limited provider the chain will try: the same conditional upsert as `admit`, so the limit stays
        exact across instances. Call it last before the commit: the reservation holds the counter's row lock."""
        counts = {p: await _reserve(session, p, limit) for p, limit in self.turn_reservations(providers)}
        return self.turn_begun(counts)

    @contextmanager
    def accounting(self, turn: TurnUsage) -> Iterator[None]:
        """The chain's calls made inside are accounted to `turn` instead of in transactions of their own."""
        token = _turn.set(turn)
        try:
            yield
        finally:
            _turn.reset(token)

    def turn_usage(self, turn: TurnUsage) -> dict[str, dict[str, int]]:
        """What the turn's last transaction adds to today's usage, per provider: its calls, and reservations that
        no call used given back. Taken once: the turn is cleared."""
        totals: dict[str, dict[str, int]] = {}

        def add(provider: str, **values: int) -> None:
            row = totals.setdefault(provider, dict.fromkeys(_USAGE_COLUMNS, 0))
            for name, value in values.items():
                row[name] += value

        for call in turn.calls:
            reserved = self._limited(call.provider) and call.outcome != ErrorKind.QUOTA.value
            if not call.sent and not reserved:
                continue
            add(call.provider, **_usage_values(call, count_request=not reserved, release=reserved and not call.sent))
        for provider in turn.reserved:
            add(provider, requests=-1)
        turn.calls.clear()
        turn.reserved.clear()
        return {provider: values for provider, values in totals.items() if any(values.values())}

    async def end_turn(self, session: AsyncSession, turn: TurnUsage) -> None:
        """In the turn's last transaction (the reply or the failure): the usage of its calls, and reservations
        that no call used given back."""
        for provider, values in self.turn_usage(turn).items():
            await _add_usage(session, provider, values)

    def fallback(self, provider: str, reason: str) -> None:
        self.metrics.fallbacks.labels(provider, reason).inc()

    async def finished(self, call: CallRecord) -> None:
        m = self.metrics
        m.requests.labels(call.provider, call.outcome).inc()
        if call.latency_ms is not None:
            m.latency.labels(call.provider).observe(call.latency_ms / 1000)
        if call.ttft_ms is not None:
            m.ttft.labels(call.provider).observe(call.ttft_ms / 1000)
        if call.queue_wait_ms is not None:
            m.queue_wait.labels(call.provider).observe(call.queue_wait_ms / 1000)
        m.tokens.labels(call.provider, "prompt").inc(call.prompt_tokens or 0)
        m.tokens.labels(call.provider, "completion").inc(call.completion_tokens or 0)
        logger.info(
            "ai_call provider=%s model=%s outcome=%s latency_ms=%s ttft_ms=%s queue_wait_ms=%s "
            "prompt_tokens=%s completion_tokens=%s",
            call.provider,
            call.model,
            call.outcome,
            call.latency_ms,
            call.ttft_ms,
            call.queue_wait_ms,
            call.prompt_tokens,
            call.completion_tokens,
        )
        turn = _turn.get()
        if turn is not None:
            turn.calls.append(call)  # recorded by `end_turn`, in the transaction that stores the outcome
            return
        reserved = self._limited(call.provider) and call.outcome != ErrorKind.QUOTA.value
        if not call.sent and not reserved:
            return
        try:
            # A reserved request that was never sent (breaker open, queue full) gives its place back.
            await record_usage(
                self.session_factory, call, count_request=not reserved, release=reserved and not call.sent
            )
        except Exception:
            # Counting must never cost the recruiter an answer.
            logger.exception("could not record AI usage")


_USAGE_COLUMNS = ("requests", "failures", "prompt_tokens", "completion_tokens")


@lru_cache(maxsize=4)
def usage_statements(dialect: str) -> tuple[Any, Any]:
    """The reservation and the usage upsert for `dialect`, built once: each turn only binds values (and the
    compiled form is reused), on the session's connection, without the ORM."""
    table: Table = ProviderUsage.__table__  # type: ignore[assignment]
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    reserve = (
        make(table)
        .values(
            day=bindparam("day"),
            provider=bindparam("provider"),
            requests=1,
            failures=0,
            prompt_tokens=0,
            completion_tokens=0,
        )
        .on_conflict_do_update(
            index_elements=["day", "provider"],
            set_={"requests": table.c.requests + 1},
            where=table.c.requests < bindparam("limit"),
        )
        .returning(table.c.requests)
    )
    add = make(table).values(
        day=bindparam("day"), provider=bindparam("provider"), **{name: bindparam(name) for name in _USAGE_COLUMNS}
    )
    add = add.on_conflict_do_update(
        index_elements=["day", "provider"],
        set_={name: table.c[name] + getattr(add.excluded, name) for name in _USAGE_COLUMNS},
    )
    return reserve, add


async def _reserve(session: AsyncSession, provider: str, limit: int) -> int | None:
    conn = await session.connection()
    reserve, _ = usage_statements(conn.dialect.name)
    count = (await conn.execute(reserve, {"day": today(), "provider": provider, "limit": limit})).scalar()
    return int(count) if count is not None else None


async def reserve_request(session_factory: async_sessionmaker[AsyncSession], provider: str, limit: int) -> int | None:
    """Count one more request today unless that would pass `limit`; return the new count, or None if full."""
    async with session_factory() as session, session.begin():
        return await _reserve(session, provider, limit)


def _usage_values(call: CallRecord, *, count_request: bool, release: bool) -> dict[str, int]:
    return {
        "requests": (1 if count_request else 0) - (1 if release else 0),
        "failures": 0 if call.outcome == "ok" or not call.sent else 1,
        "prompt_tokens": call.prompt_tokens or 0,
        "completion_tokens": call.completion_tokens or 0,
    }


async def _add_usage(session: AsyncSession, provider: str, values: dict[str, int]) -> None:
    """Atomic upsert, so concurrent instances add up instead of overwriting each other."""
    conn = await session.connection()
    _, add = usage_statements(conn.dialect.name)
    await conn.execute(
        add, {"day": today(), "provider": provider, **{name: values.get(name, 0) for name in _USAGE_COLUMNS}}
    )


async def record_usage(
    session_factory: async_sessionmaker[AsyncSession],
    call: CallRecord,
    *,
    count_request: bool = True,
    release: bool = False,
) -> None:
    """Atomic upsert, so concurrent instances add up instead of overwriting each other."""
    async with session_factory() as session, session.begin():
        await _add_usage(session, call.provider, _usage_values(call, count_request=count_request, release=release))


async def requests_today(session_factory: async_sessionmaker[AsyncSession], provider: str) -> int:
    async with session_factory() as session:
        used = await session.scalar(
            select(ProviderUsage.requests).where(ProviderUsage.day == today(), ProviderUsage.provider == provider)
        )
    return int(used or 0)


async def usage(session: AsyncSession, days: int) -> list[ProviderUsage]:
    """The last `days` Moscow days, newest first."""
    since = date.fromordinal(today().toordinal() - days + 1)
    rows = await session.scalars(
        select(ProviderUsage)
        .where(ProviderUsage.day >= since)
        .order_by(ProviderUsage.day.desc(), ProviderUsage.provider)
    )
    return list(rows)


# --- tracing -----------------------------------------------------------------------------------------

_EXPORTER_ALIASES = {"otlp": "otlp_proto_http"}
"""`otlp` is OTLP over HTTP here: that is the exporter the project ships (`opentelemetry-exporter-otlp-proto-http`)."""
_installed: TracerProvider | None = None


def tracer_provider_from(settings: Settings) -> TracerProvider | None:
    """A tracer provider exporting to what the standard OTEL_* settings name, or None when tracing is off."""
    names = settings.trace_exporters
    if not names:
        return None
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: settings.OTEL_SERVICE_NAME}))
    for name in names:
        found = entry_points(group="opentelemetry_traces_exporter", name=_EXPORTER_ALIASES.get(name, name))
        if not found:
            logger.warning("unknown OTEL_TRACES_EXPORTER %r: no span exporter of that name is installed", name)
            continue
        exporter_class: type[SpanExporter] = next(iter(found)).load()
        kwargs: dict[str, Any] = {}
        if name.startswith("otlp") and (endpoint := _otlp_traces_endpoint(settings)):
            # Passed on explicitly: the settings may come from .env, which the exporter itself never reads.
            kwargs["endpoint"] = endpoint
        provider.add_span_processor(BatchSpanProcessor(exporter_class(**kwargs)))
    return provider


def _otlp_traces_endpoint(settings: Settings) -> str | None:
    if settings.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT:
        return settings.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
    if settings.OTEL_EXPORTER_OTLP_ENDPOINT:
        return settings.OTEL_EXPORTER_OTLP_ENDPOINT.rstrip("/") + "/v1/traces"
    return None


def install_tracing(settings: Settings) -> TracerProvider | None:
    """Make the configured provider the process's global one (once per process: OpenTelemetry allows no
    second); the chain's spans go nowhere until then."""
    global _installed
    if _installed is None:
        _installed = tracer_provider_from(settings)
        if _installed is not None:
            trace.set_tracer_provider(_installed)
            logger.info("tracing on: exporting spans (%s)", ", ".join(settings.trace_exporters))
    return _installed
