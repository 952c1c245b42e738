"""Application factory: routers, pages, error handlers, and a lifespan owning the engine and the provider chain."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.routing import compile_path
from starlette.types import Scope

from app import web
from app.ai.factory import build_chain, redis_backend
from app.ai.telemetry import Metrics, Telemetry, install_tracing
from app.api import errors, responses
from app.api.deps import ChatServices
from app.api.main import api_router
from app.api.routes import health, metrics
from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_session_factory
from app.core.http import BodyLimitMiddleware, RequestIdMiddleware, SecurityHeadersMiddleware
from app.core.logging import install_access_log_filter
from app.services.bootstrap import ensure_first_admin
from app.services.intake_queue import IntakeQueue
from app.services.shortlist import VectorCache
from app.services.turns import TurnLeases, instance_id

logger = logging.getLogger("app")


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


def create_served_app(settings: Settings | None = None) -> FastAPI:
    """The app as `nexus-ai serve` runs it (in each worker process): `create_app`, then the garbage collector
    set for a long-lived server.

    The objects built so far (modules, routes, schemas, table metadata) live as long as the process, so they
    are frozen out of the collector's scans; and the youngest generation is collected after 10,000 new objects
    instead of 700 (the older ones at Python's usual ratios, so cyclic garbage is still freed soon: with 50 and
    100 there, the peak with 200 open streams was 5 MB higher in a run). A turn makes a few thousand
    short-lived objects, so with the defaults a collection ran about every turn, walking what 50 turns in flight
    keep alive: 0.3–0.6 ms of a turn's CPU (bench/README.md). Not done in `create_app`: tests build many apps in
    one process, and frozen garbage would never be freed there."""
    app = create_app(settings)
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    return app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    install_access_log_filter()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        session_factory = create_session_factory(engine)
        metrics = Metrics()
        tracing = install_tracing(settings)
        owner = instance_id()
        telemetry = Telemetry(settings, session_factory, metrics)
        redis = redis_backend(settings)
        chain = build_chain(settings, observer=telemetry, session_factory=session_factory, holder=owner, redis=redis)
        turn_leases = TurnLeases(session_factory, settings, owner)
        app.state.metrics = metrics
        app.state.settings = settings
        app.state.engine = engine
        app.state.session_factory = session_factory
        app.state.chain = chain
        chat_services = ChatServices(settings, session_factory, chain, telemetry, turn_leases)
        app.state.chat_services = chat_services
        intake_queue = IntakeQueue(settings, session_factory, chain)
        app.state.intake_queue = intake_queue
        vector_cache = VectorCache()
        app.state.vector_cache = vector_cache
        _startup_warnings(settings)
        # Renews this process's turn leases and fails turns whose process died, here or in another instance.
        upkeep = asyncio.create_task(turn_leases.run(), name="turn-leases")
        if settings.FIRST_SUPERUSER and settings.FIRST_SUPERUSER_PASSWORD:
            async with session_factory() as session, session.begin():
                created = await ensure_first_admin(session, settings, generate=False)
            if created:
                logger.info("created the first administrator %s", created.email)
        await intake_queue.start()
        # The shortlist's matrix of stored vectors (100–350 ms to read for 10,000 candidates on a 2-vCPU VM) is
        # loaded in the background now, so a recruiter's first shortlist after a start does not wait for it.
        warmup = asyncio.create_task(vector_cache.warm(session_factory), name="vector-warmup")
        try:
            yield
        finally:
            warmup.cancel()
            with suppress(asyncio.CancelledError):
                await warmup
            await intake_queue.stop()
            tasks = chat_services.tasks
            if tasks:
                # Replies still being written for disconnected clients get a chance to be stored; what is still
                # running then is cancelled before the providers' clients close under it. Its question stays
                # stored, and pending until its lease runs out: then a sweeper shows it failed, with «Повторить».
                _, running = await asyncio.wait(set(tasks), timeout=settings.SHUTDOWN_GRACE_SECONDS)
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)
            upkeep.cancel()
            with suppress(asyncio.CancelledError):
                await upkeep
            await chain.aclose()
            if redis is not None:
                await redis.aclose()
            if tracing is not None:
                tracing.force_flush()
            await engine.dispose()

    app = FastAPI(
        title="Nexus AI",
        summary="Recruiting assistant: candidate cards with a GigaChat → OpenRouter chat",
        version="0.1.0",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(BodyLimitMiddleware, limit_for=_body_limits(app, settings))
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
    responses.install(app)
    return app


def _upload_paths(app: FastAPI) -> list[re.Pattern[str]]:
    """Paths of the operations that take multipart uploads, as the OpenAPI document describes them."""
    paths: list[re.Pattern[str]] = []
    for path, operations in app.openapi().get("paths", {}).items():
        for operation in operations.values():
            content = (operation.get("requestBody") or {}).get("content", {}) if isinstance(operation, dict) else {}
            if "multipart/form-data" in content:
                paths.append(compile_path(path)[0])
    return paths


def _body_limits(app: FastAPI, settings: Settings) -> Callable[[Scope], int]:
    """Routes that take uploads (`File(...)`) get the upload limit; every other request gets the JSON limit."""
    upload_limit = settings.RESUME_MAX_BYTES + settings.REQUEST_MAX_UPLOAD_OVERHEAD_BYTES
    upload_paths: list[re.Pattern[str]] | None = None

    def limit_for(scope: Scope) -> int:
        nonlocal upload_paths
        if upload_paths is None:  # routes are all registered by the first request
            upload_paths = _upload_paths(app)
        path: str = scope["path"]
        return upload_limit if any(p.match(path) for p in upload_paths) else settings.REQUEST_MAX_JSON_BYTES

    return limit_for
