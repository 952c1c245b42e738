"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.ai import telemetry
from app.ai.chain import ProviderChain
from app.core.config import Settings
from app.schemas import ProviderStatus, ReadyPublic

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready", response_model=ReadyPublic, responses={503: {"model": ReadyPublic}})
async def ready(request: Request) -> JSONResponse:
    """Database reachable; which AI providers are configured and the state of their breakers."""
    engine: AsyncEngine = request.app.state.engine
    chain: ProviderChain = request.app.state.chain
    settings: Settings = request.app.state.settings
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        database = True
    except Exception:
        database = False

    providers = []
    for name, configured, model in (
        ("gigachat", settings.gigachat_configured, settings.GIGACHAT_MODEL),
        ("openrouter", settings.openrouter_configured, settings.OPENROUTER_MODEL),
    ):
        slot = chain.slot(name)
        providers.append(
            ProviderStatus(
                name=name,
                configured=configured,
                foreign=name in settings.FOREIGN_PROVIDERS,
                model=model if configured else None,
                breaker=slot.breaker.state if slot else "closed",
            )
        )
    warnings = []
    ai_down = not chain.configured or all(s.breaker.state == "open" for s in chain.slots)
    if not chain.configured:
        warnings.append("ИИ не настроен: задайте GIGACHAT_API_KEY или OPENROUTER_API_KEY")
    elif ai_down:
        warnings.append("Все провайдеры ИИ временно отключены после серии ошибок")
    if not settings.GIGACHAT_VERIFY_SSL_CERTS and settings.gigachat_configured:
        warnings.append("Проверка TLS-сертификата GigaChat отключена (GIGACHAT_VERIFY_SSL_CERTS=false)")

    limit = settings.GIGACHAT_DAILY_LIMIT
    if database and settings.gigachat_configured and limit:
        used = await telemetry.requests_today(request.app.state.session_factory, "gigachat")
        if used >= limit:
            warnings.append(f"Дневной лимит GigaChat исчерпан ({used} из {limit}): до конца дня отвечает OpenRouter")
        elif used >= limit * telemetry.QUOTA_WARNING_SHARE:
            warnings.append(f"Дневной лимит GigaChat использован на 80 % и более ({used} из {limit})")

    state = "unavailable" if not database else "degraded" if ai_down else "ok"
    body = ReadyPublic(status=state, database=database, providers=providers, warnings=warnings)
    code = status.HTTP_200_OK if database else status.HTTP_503_SERVICE_UNAVAILABLE
    return JSONResponse(body.model_dump(mode="json"), status_code=code)
