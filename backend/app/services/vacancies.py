"""Vacancies: persistence, candidate counts, and the audit of every change. Services add and flush;
the request commits."""

from __future__ import annotations

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import LIKE_ESCAPE, like_pattern
from app.core.errors import NotFound
from app.models import Candidate, Stage, User, Vacancy, VacancyStatus
from app.schemas import VacancyCounts, VacancyCreate, VacancyListItem, VacancyUpdate
from app.services import audit

NOT_FOUND = "Вакансия не найдена"


async def get_or_404(session: AsyncSession, vacancy_id: int) -> Vacancy:
    vacancy = await session.get(Vacancy, vacancy_id)
    if vacancy is None:
        raise NotFound(NOT_FOUND)
    return vacancy


async def create(session: AsyncSession, data: VacancyCreate, *, actor: User, ip: str | None = None) -> Vacancy:
    vacancy = Vacancy(**data.model_dump())
    session.add(vacancy)
    await session.flush()
    await audit.record(session, "vacancy.create", actor=actor, entity_type="vacancy", entity_id=vacancy.id, ip=ip)
    return vacancy


def _action(before: str, after: str) -> str:
    """Closing and reopening are decisions worth their own line in the log."""
    if before != after:
        return "vacancy.close" if after == VacancyStatus.CLOSED else "vacancy.reopen"
    return "vacancy.update"


async def update(
    session: AsyncSession, vacancy: Vacancy, data: VacancyUpdate, *, actor: User, ip: str | None = None
) -> Vacancy:
    changes = data.model_dump(exclude_unset=True)
    for required in ("title", "status"):
        if changes.get(required, "") is None:
            changes.pop(required)
    if "key_skills" in changes and changes["key_skills"] is None:
        changes["key_skills"] = []
    before = vacancy.status
    for key, value in changes.items():
        setattr(vacancy, key, value)
    await session.flush()
    await session.refresh(vacancy)
    await audit.record(
        session,
        _action(before, vacancy.status),
        actor=actor,
        entity_type="vacancy",
        entity_id=vacancy.id,
        ip=ip,
        details={"fields": sorted(changes)},
    )
    return vacancy


async def delete(session: AsyncSession, vacancy: Vacancy, *, actor: User, ip: str | None = None) -> None:
    """Candidates and analyses that referred to the vacancy keep existing without it (SET NULL)."""
    vacancy_id = vacancy.id
    await session.delete(vacancy)
    await session.flush()
    await audit.record(session, "vacancy.delete", actor=actor, entity_type="vacancy", entity_id=vacancy_id, ip=ip)


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


async def counts(session: AsyncSession, vacancy_ids: list[int]) -> dict[int, VacancyCounts]:
    """Candidates per vacancy (erased ones excluded): all, still in the pipeline, hired, rejected."""
    if not vacancy_ids:
        return {}
    finished = (Stage.HIRED.value, Stage.REJECTED.value)
    rows = await session.execute(
        select(
            Candidate.vacancy_id,
            func.count(),
            func.sum(case((Candidate.stage.not_in(finished), 1), else_=0)),
            func.sum(case((Candidate.stage == Stage.HIRED.value, 1), else_=0)),
            func.sum(case((Candidate.stage == Stage.REJECTED.value, 1), else_=0)),
        )
        .where(Candidate.vacancy_id.in_(vacancy_ids), Candidate.erased_at.is_(None))
        .group_by(Candidate.vacancy_id)
    )
    result = {}
    for vacancy_id, total, in_progress, hired, rejected in rows:
        result[int(vacancy_id)] = VacancyCounts(
            candidates=int(total), in_progress=int(in_progress or 0), hired=int(hired or 0), rejected=int(rejected or 0)
        )
    return result


def _with_counts(vacancy: Vacancy, counts: dict[int, VacancyCounts]) -> VacancyListItem:
    item = VacancyListItem.model_validate(vacancy, from_attributes=True)
    return item.model_copy(update={"counts": counts.get(vacancy.id, VacancyCounts())})


async def page(
    session: AsyncSession, *, q: str | None, status_: VacancyStatus | None, offset: int, limit: int
) -> tuple[list[VacancyListItem], int]:
    """One page of the list, each vacancy with its candidate counts."""
    rows, total = await list_(session, q=q, status_=status_, offset=offset, limit=limit)
    counted = await counts(session, [r.id for r in rows])
    return [_with_counts(r, counted) for r in rows], total


async def with_counts(session: AsyncSession, vacancy: Vacancy) -> VacancyListItem:
    return _with_counts(vacancy, await counts(session, [vacancy.id]))
