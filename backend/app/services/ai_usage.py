"""What administrators see of the AI: usage per day and provider, today's GigaChat quota, the providers'
breakers, and the GigaChat package left on a prepaid key (its balance API, through the SDK)."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from app.ai import telemetry
from app.ai.chain import ProviderChain
from app.ai.errors import ProviderError
from app.ai.providers.gigachat import GigaChatService
from app.core.config import Settings
from app.schemas import AIOverviewPublic, BalanceItem, BalancePublic, BreakerPublic, QuotaPublic, UsagePublic

logger = logging.getLogger("app.services.ai_usage")

NOT_PREPAID = "Остаток пакета показывается только для ключей с предоплаченными пакетами (ответ GigaChat: 403)"
NOT_CONFIGURED = "GigaChat не настроен"


async def balance(chain: ProviderChain) -> BalancePublic:
    slot = chain.slot("gigachat")
    provider = slot.provider if slot else None
    if not isinstance(provider, GigaChatService) or not provider.configured:
        return BalancePublic(available=False, detail=NOT_CONFIGURED)
    try:
        entries = await provider.balance()
    except ProviderError as error:  # the admin page shows the reason; the rest of it still works
        logger.warning("GigaChat balance request failed: %s", error.kind.value)
        return BalancePublic(available=False, detail=f"GigaChat не ответил: {error.describe()}")
    if entries is None:
        return BalancePublic(available=False, detail=NOT_PREPAID)
    return BalancePublic(available=True, items=[BalanceItem(usage=usage, value=value) for usage, value in entries])


async def overview(session: AsyncSession, settings: Settings, chain: ProviderChain, days: int) -> AIOverviewPublic:
    rows = await telemetry.usage(session, days)
    today = telemetry.today()
    used = next((r.requests for r in rows if r.day == today and r.provider == "gigachat"), 0)
    return AIOverviewPublic(
        usage=[UsagePublic.model_validate(r) for r in rows],
        quota=QuotaPublic(day=today, used=used, limit=settings.GIGACHAT_DAILY_LIMIT),
        breakers=[BreakerPublic(provider=s.provider.name, state=s.breaker.state) for s in chain.slots],
        balance=await balance(chain),
    )
