"""Building the provider chain from settings: the only module that imports the providers."""

from __future__ import annotations

import time

from opentelemetry.trace import Tracer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.ai.chain import ChainObserver, ProviderChain, ProviderSlot
from app.ai.providers.gigachat import GigaChatService
from app.ai.providers.openrouter import OpenRouterService
from app.ai.resilience import (
    Breaker,
    CircuitBreaker,
    ConcurrencyLimiter,
    Limiter,
    SharedBreaker,
    SharedLimiter,
    Timeouts,
)
from app.ai.resilience_redis import RedisBackend, RedisBreaker, RedisLimiter
from app.ai.types import Clock, Provider
from app.core.config import Settings


def build_providers(settings: Settings) -> list[Provider]:
    """The configured providers in the order they are tried."""
    providers: list[Provider] = []
    if settings.gigachat_configured:
        providers.append(GigaChatService(settings))
    if settings.openrouter_configured:
        providers.append(OpenRouterService(settings))
    return providers


def timeouts_from(settings: Settings) -> Timeouts:
    return Timeouts(
        first_token=settings.LLM_FIRST_TOKEN_TIMEOUT,
        idle=settings.LLM_STREAM_IDLE_TIMEOUT,
        total=settings.LLM_TOTAL_TIMEOUT,
        retry_after_budget=settings.LLM_RETRY_AFTER_BUDGET,
        structured=settings.LLM_STRUCTURED_TIMEOUT,
        retry_delay=settings.LLM_RETRY_DELAY,
    )


def hedge_after(settings: Settings, provider: str) -> float | None:
    """How long the provider before `provider` may go without a first token before `provider` joins in."""
    after = settings.LLM_HEDGE_FOREIGN_AFTER if provider in settings.FOREIGN_PROVIDERS else settings.LLM_HEDGE_AFTER
    return after or None


def redis_backend(settings: Settings) -> RedisBackend | None:
    """This process's connection to the Redis of `REDIS_URL`, or None when it is not set (no I/O here: the
    first call connects). The caller closes it."""
    if settings.REDIS_URL is None:
        return None
    return RedisBackend(settings.REDIS_URL.get_secret_value(), settings.REDIS_PREFIX, timeout=settings.REDIS_TIMEOUT)


def build_chain(
    settings: Settings,
    *,
    clock: Clock = time.monotonic,
    observer: ChainObserver | None = None,
    session_factory: async_sessionmaker[AsyncSession] | None = None,
    holder: str = "local",
    tracer: Tracer | None = None,
    redis: RedisBackend | None = None,
) -> ProviderChain:
    """With `session_factory`, breakers and concurrency limits are shared through the database by every process
    of the deployment (`holder` names this one in the leases); without it they live in this process. With
    `redis`, they are shared through Redis, and the database (or this process) answers while Redis is down."""
    slots: list[ProviderSlot] = []
    for index, p in enumerate(build_providers(settings)):
        limiter: Limiter
        breaker: Breaker
        if session_factory is None:
            limiter = ConcurrencyLimiter(p.max_concurrency, settings.LLM_QUEUE_SIZE, settings.LLM_QUEUE_TIMEOUT)
            breaker = CircuitBreaker(settings.LLM_BREAKER_FAILURES, settings.LLM_BREAKER_COOLDOWN, clock)
        else:
            limiter = SharedLimiter(
                session_factory,
                p.name,
                p.max_concurrency,
                settings.LLM_QUEUE_SIZE,
                settings.LLM_QUEUE_TIMEOUT,
                holder=holder,
                lease_ttl=settings.LLM_LEASE_SECONDS,
            )
            breaker = SharedBreaker(
                session_factory,
                p.name,
                settings.LLM_BREAKER_FAILURES,
                settings.LLM_BREAKER_COOLDOWN,
                share_seconds=settings.LLM_BREAKER_SHARE_SECONDS,
            )
        if redis is not None:
            limiter = RedisLimiter(
                redis,
                p.name,
                p.max_concurrency,
                settings.LLM_QUEUE_SIZE,
                settings.LLM_QUEUE_TIMEOUT,
                holder=holder,
                fallback=limiter,
                lease_ttl=settings.LLM_LEASE_SECONDS,
            )
            breaker = RedisBreaker(
                redis, p.name, settings.LLM_BREAKER_FAILURES, settings.LLM_BREAKER_COOLDOWN, fallback=breaker
            )
        slots.append(
            ProviderSlot(p, limiter, breaker, hedge_after=hedge_after(settings, p.name) if index > 0 else None)
        )
    return ProviderChain(slots, timeouts_from(settings), observer, tracer)
