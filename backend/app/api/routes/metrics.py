"""Prometheus metrics and per-day AI usage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.ai import telemetry
from app.ai.telemetry import Metrics
from app.api.deps import SessionDep
from app.schemas import UsagePublic

metrics_router = APIRouter(tags=["health"])
usage_router = APIRouter(prefix="/usage", tags=["usage"])


@metrics_router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text format: AI calls by provider and outcome, fallbacks, latency, TTFT, tokens, breakers, queue."""
    registry: Metrics = request.app.state.metrics
    registry.observe_breakers(request.app.state.chain)
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)


@usage_router.get("/", response_model=list[UsagePublic])
async def usage(session: SessionDep, days: Annotated[int, Query(ge=1, le=366)] = 30) -> list[UsagePublic]:
    """Requests and tokens per day (Moscow time) and provider, newest first; shared by every instance."""
    return [UsagePublic.model_validate(row) for row in await telemetry.usage(session, days)]
