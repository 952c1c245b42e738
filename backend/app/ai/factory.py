"""Building the provider chain from settings: the only module that imports the providers."""

from __future__ import annotations

import time

from app.ai.chain import ChainObserver, ProviderChain, ProviderSlot
from app.ai.providers.gigachat import GigaChatService
from app.ai.providers.openrouter import OpenRouterService
from app.ai.resilience import CircuitBreaker, ConcurrencyLimiter, Timeouts
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
    )


def build_chain(
    settings: Settings, *, clock: Clock = time.monotonic, observer: ChainObserver | None = None
) -> ProviderChain:
    slots = [
        ProviderSlot(
            provider=p,
            limiter=ConcurrencyLimiter(p.max_concurrency, settings.LLM_QUEUE_SIZE, settings.LLM_QUEUE_TIMEOUT),
            breaker=CircuitBreaker(settings.LLM_BREAKER_FAILURES, settings.LLM_BREAKER_COOLDOWN, clock),
        )
        for p in build_providers(settings)
    ]
    return ProviderChain(slots, timeouts_from(settings), observer)
