"""Vacancy persistence. Services add and flush; the request commits."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import LIKE_ESCAPE, like_pattern
from app.core.errors import NotFound
from app.models import Vacancy, VacancyStatus
from app.schemas import VacancyCreate, VacancyUpdate

NOT_FOUND = "Вакансия не найдена"


async def get_or_404(session: AsyncSession, vacancy_id: int) -> Vacancy:
    vacancy = await session.get(Vacancy, vacancy_id)
    if vacancy is None:
        raise NotFound(NOT_FOUND)
    return vacancy


async def create(session: AsyncSession, data: VacancyCreate) -> Vacancy:
    vacancy = Vacancy(**data.model_dump())
    session.add(vacancy)
    await session.flush()
    return vacancy


async def update(session: AsyncSession, vacancy: Vacancy, data: VacancyUpdate) -> Vacancy:
    changes = data.model_dump(exclude_unset=True)
    for required in ("title", "status"):
        if changes.get(required, "") is None:
            changes.pop(required)
    if "key_skills" in changes and changes["key_skills"] is None:
        changes["key_skills"] = []
    for key, value in changes.items():
        setattr(vacancy, key, value)
    await session.flush()
    await session.refresh(vacancy)
    return vacancy


async def delete(session: AsyncSession, vacancy: Vacancy) -> None:
    """Candidates and analyses that referred to the vacancy keep existing without it (SET NULL)."""
    await session.delete(vacancy)
    await session.flush()


async def list_(
    session: AsyncSession, *, q: str | None, status_: VacancyStatus | None, offset: int, limit: int
) -> tuple[list[Vacancy], int]:
    query = select(Vacancy)
    if q and q.strip():
        pattern = like_pattern(q)
        query = query.where(
            or_(
                func.lower(Vacancy.title).like(pattern, escape=LIKE_ESCAPE),
                func.lower(Vacancy.requirements).like(pattern, escape=LIKE_ESCAPE),
            )
        )
    if status_ is not None:
        query = query.where(Vacancy.status == status_)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(query.order_by(Vacancy.id.desc()).offset(offset).limit(limit))
    return list(rows), int(total or 0)
