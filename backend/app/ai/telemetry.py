"""What the provider chain reports: daily usage and the GigaChat quota (in the database, so every instance
agrees), Prometheus metrics, and one log line per AI call."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import select
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

    def observe_breakers(self, chain: ProviderChain) -> None:
        for slot in chain.slots:
            self.breaker.labels(slot.provider.name).set(_BREAKER_VALUES[slot.breaker.state])


class Telemetry:
    """The chain's observer."""

    def __init__(self, settings: Settings, session_factory: async_sessionmaker[AsyncSession], metrics: Metrics) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.metrics = metrics
        self._warned_on: date | None = None

    def _limited(self, provider: str) -> bool:
        return provider == "gigachat" and self.settings.GIGACHAT_DAILY_LIMIT > 0

    async def admit(self, provider: str) -> ProviderError | None:
        """For a limited provider, reserve today's request before sending it: the increment and the check are
        one statement, so simultaneous requests (from any instance) can never overshoot the limit."""
        if not self._limited(provider):
            return None
        limit = self.settings.GIGACHAT_DAILY_LIMIT
        try:
            reserved = await reserve_request(self.session_factory, provider, limit)
        except Exception:
            # Counting must never cost the recruiter an answer: without the database, let the call through.
            logger.exception("could not reserve GigaChat quota")
            return None
        if reserved is None:
            return ProviderError(ErrorKind.QUOTA, f"{limit} из {limit} за сегодня")
        used_before = reserved - 1
        if used_before >= limit * QUOTA_WARNING_SHARE and self._warned_on != today():
            self._warned_on = today()
            logger.warning("GigaChat daily quota at %d of %d requests (80%% reached)", used_before, limit)
        return None

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


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def reserve_request(session_factory: async_sessionmaker[AsyncSession], provider: str, limit: int) -> int | None:
    """Count one more request today unless that would pass `limit`; return the new count, or None if full."""
    async with session_factory() as session, session.begin():
        stmt = _insert(session)(ProviderUsage).values(
            day=today(), provider=provider, requests=1, failures=0, prompt_tokens=0, completion_tokens=0
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["day", "provider"],
            set_={"requests": ProviderUsage.requests + 1},
            where=ProviderUsage.requests < limit,
        ).returning(ProviderUsage.requests)
        count = await session.scalar(stmt)
    return int(count) if count is not None else None


async def record_usage(
    session_factory: async_sessionmaker[AsyncSession],
    call: CallRecord,
    *,
    count_request: bool = True,
    release: bool = False,
) -> None:
    """Atomic upsert, so concurrent instances add up instead of overwriting each other."""
    values = {
        "day": today(),
        "provider": call.provider,
        "requests": (1 if count_request else 0) - (1 if release else 0),
        "failures": 0 if call.outcome == "ok" or not call.sent else 1,
        "prompt_tokens": call.prompt_tokens or 0,
        "completion_tokens": call.completion_tokens or 0,
    }
    async with session_factory() as session, session.begin():
        stmt = _insert(session)(ProviderUsage).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["day", "provider"],
            set_={
                name: getattr(ProviderUsage, name) + getattr(stmt.excluded, name)
                for name in ("requests", "failures", "prompt_tokens", "completion_tokens")
            },
        )
        await session.execute(stmt)


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
