"""Application factory: routers, pages, error handlers, and a lifespan owning the engine and the provider chain."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import web
from app.ai.factory import build_chain
from app.ai.telemetry import Metrics, Telemetry
from app.api.main import api_router
from app.api.routes import health, metrics
from app.core import errors
from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_session_factory
from app.core.http import RequestIdMiddleware, SecurityHeadersMiddleware
from app.models import ChatMessage, MessageStatus, utcnow
from app.services.bootstrap import ensure_first_admin
from app.services.intake_queue import IntakeQueue
from app.services.shortlist import VectorCache

logger = logging.getLogger("app")

SHUTDOWN_GRACE_SECONDS = 30.0
INTERRUPTED = "Ответ не был получен: сервер перезапускался. Нажмите «Повторить»."


def _startup_warnings(settings: Settings) -> None:
    if settings.USE_GIGACHAT and settings.GIGACHAT_API_KEY is None:
        logger.warning("GigaChat is not configured (GIGACHAT_API_KEY is empty)")
    if settings.GIGACHAT_API_KEY is not None and not settings.USE_GIGACHAT:
        logger.info("GigaChat is switched off (USE_GIGACHAT=false)")
    if settings.OPENROUTER_API_KEY is None:
        logger.warning("OpenRouter is not configured (OPENROUTER_API_KEY is empty): there is no fallback")
    if settings.gigachat_configured and not settings.GIGACHAT_VERIFY_SSL_CERTS:
        logger.warning(
            "TLS certificate verification for GigaChat is OFF (GIGACHAT_VERIFY_SSL_CERTS=false): "
            "use only for development; install the Russian Trusted Root CA instead"
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        session_factory = create_session_factory(engine)
        metrics = Metrics()
        chain = build_chain(settings, observer=Telemetry(settings, session_factory, metrics))
        app.state.metrics = metrics
        app.state.settings = settings
        app.state.engine = engine
        app.state.session_factory = session_factory
        app.state.chain = chain
        app.state.turn_tasks = set()
        intake_queue = IntakeQueue(settings, session_factory, chain)
        app.state.intake_queue = intake_queue
        app.state.vector_cache = VectorCache()
        _startup_warnings(settings)
        await _fail_abandoned_turns(session_factory, settings)
        if settings.FIRST_SUPERUSER and settings.FIRST_SUPERUSER_PASSWORD:
            async with session_factory() as session, session.begin():
                created = await ensure_first_admin(session, settings, generate=False)
            if created:
                logger.info("created the first administrator %s", created.email)
        await intake_queue.start()
        try:
            yield
        finally:
            await intake_queue.stop()
            tasks: set[asyncio.Task[None]] = app.state.turn_tasks
            if tasks:
                # Replies still being written for disconnected clients get a chance to be stored.
                await asyncio.wait(set(tasks), timeout=SHUTDOWN_GRACE_SECONDS)
            await chain.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Nexus AI",
        summary="Recruiting assistant: candidate cards with a GigaChat → OpenRouter chat",
        version="0.1.0",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware)
    if settings.CORS_ORIGINS:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.CORS_ORIGINS,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-CSRF-Token"],
        )
    app.include_router(health.router)
    app.include_router(metrics.metrics_router)
    app.include_router(api_router)
    web.install(app, settings)
    return app


async def _fail_abandoned_turns(session_factory: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """A question still `pending` long after any reply could have finished was cut off by a restart."""
    cutoff = utcnow() - timedelta(seconds=2 * settings.LLM_TOTAL_TIMEOUT)
    try:
        async with session_factory() as session, session.begin():
            await session.execute(
                update(ChatMessage)
                .where(ChatMessage.status == MessageStatus.PENDING, ChatMessage.created_at < cutoff)
                .values(status=MessageStatus.FAILED, error=INTERRUPTED)
            )
    except Exception as exc:  # a database that is not migrated yet must not stop the app from starting
        logger.warning("could not check for interrupted chat turns: %s", type(exc).__name__)
