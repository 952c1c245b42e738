"""Candidate persistence. Services add and flush; the request owns the commit."""

from __future__ import annotations

from fastapi import HTTPException, status
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Candidate
from app.schemas import CandidateCreate, CandidateUpdate

NOT_FOUND = "Кандидат не найден"


async def get(session: AsyncSession, candidate_id: int) -> Candidate | None:
    return await session.get(Candidate, candidate_id)


async def get_or_404(session: AsyncSession, candidate_id: int) -> Candidate:
    candidate = await get(session, candidate_id)
    if candidate is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return candidate


async def create(session: AsyncSession, data: CandidateCreate) -> Candidate:
    candidate = Candidate(**data.model_dump())
    session.add(candidate)
    await session.flush()
    return candidate


async def update(session: AsyncSession, candidate: Candidate, data: CandidateUpdate) -> Candidate:
    changes = data.model_dump(exclude_unset=True)
    if changes.get("full_name", "") is None:
        changes.pop("full_name")
    for key, value in changes.items():
        setattr(candidate, key, value)
    await session.flush()
    await session.refresh(candidate)
    return candidate


async def delete(session: AsyncSession, candidate: Candidate) -> None:
    await session.delete(candidate)
    await session.flush()


async def list_(session: AsyncSession, *, q: str | None, offset: int, limit: int) -> tuple[list[Candidate], int]:
    query = select(Candidate)
    if q:
        pattern = f"%{q.strip().lower()}%"
        query = query.where(
            or_(
                func.lower(Candidate.full_name).like(pattern),
                func.lower(Candidate.email).like(pattern),
                func.lower(Candidate.position).like(pattern),
            )
        )
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(query.order_by(Candidate.id.desc()).offset(offset).limit(limit))
    return list(rows), int(total or 0)
