"""Admin-only read access to the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from app.api.deps import SessionDep
from app.models import AuditEvent
from app.schemas import DB_INT_MAX, AuditEventPublic, AuditEventsPublic, NoNul
from app.services import audit

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/", response_model=AuditEventsPublic)
async def list_events(
    session: SessionDep,
    action: Annotated[str | None, Query(max_length=64), NoNul] = None,
    actor_id: Annotated[int | None, Query(gt=0, le=DB_INT_MAX)] = None,
    entity_type: Annotated[str | None, Query(max_length=32), NoNul] = None,
    entity_id: Annotated[int | None, Query(gt=0, le=DB_INT_MAX)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditEventsPublic:
    """Newest first, filtered by action, actor, entity and time."""
    stmt = audit.query(
        action=action, actor_id=actor_id, entity_type=entity_type, entity_id=entity_id, since=since, until=until
    )
    total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = await session.scalars(stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).offset(offset).limit(limit))
    return AuditEventsPublic(data=[AuditEventPublic.model_validate(r) for r in rows], count=int(total or 0))
