"""The pipeline board: a column per stage with the candidates in it, how long they have been there,
and the fit score of their latest AI analysis. Moves go through `candidates.change_stage`."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Analysis, Candidate, Stage, StageChange, Vacancy, utcnow
from app.schemas import BoardCard, BoardColumn, BoardPublic
from app.services.candidates import STAGE_TITLES

BOARD_LIMIT = 500
"""A board shows at most this many candidates; beyond that the filters must narrow it."""
SECONDS_PER_DAY = 86_400


def _fit_score(result: object) -> int | None:
    score = result.get("fit_score") if isinstance(result, dict) else None
    return score if isinstance(score, int) else None


async def board(
    session: AsyncSession, *, vacancy_id: int | None, source: str | None, owner_id: int | None
) -> BoardPublic:
    query = select(Candidate).where(Candidate.erased_at.is_(None))
    if vacancy_id is not None:
        query = query.where(Candidate.vacancy_id == vacancy_id)
    if source:
        query = query.where(Candidate.source == source)
    if owner_id is not None:
        query = query.where(Candidate.owner_id == owner_id)
    rows = list(await session.scalars(query.order_by(Candidate.id.desc()).limit(BOARD_LIMIT + 1)))
    truncated = len(rows) > BOARD_LIMIT
    rows = rows[:BOARD_LIMIT]
    ids = [c.id for c in rows]

    since: dict[int, datetime] = {}
    scores: dict[int, int | None] = {}
    titles: dict[int, str] = {}
    if ids:
        moved = await session.execute(
            select(StageChange.candidate_id, func.max(StageChange.changed_at))
            .where(StageChange.candidate_id.in_(ids))
            .group_by(StageChange.candidate_id)
        )
        since = {row[0]: row[1] for row in moved}
        analyses = await session.execute(
            select(Analysis.candidate_id, Analysis.result)
            .where(Analysis.candidate_id.in_(ids))
            .order_by(Analysis.candidate_id, Analysis.created_at.desc(), Analysis.id.desc())
        )
        for candidate_id, result in analyses:
            scores.setdefault(candidate_id, _fit_score(result))
        vacancy_ids = {c.vacancy_id for c in rows if c.vacancy_id is not None}
        if vacancy_ids:
            found = await session.execute(select(Vacancy.id, Vacancy.title).where(Vacancy.id.in_(vacancy_ids)))
            titles = {row[0]: row[1] for row in found}

    now = utcnow()
    columns = {stage: BoardColumn(stage=stage, title=STAGE_TITLES[stage], count=0, cards=[]) for stage in Stage}
    for candidate in rows:
        stage_since = since.get(candidate.id) or candidate.created_at
        if stage_since.tzinfo is None:  # defensive: an aggregate that lost the column type
            stage_since = stage_since.replace(tzinfo=UTC)
        column = columns[Stage(candidate.stage)]
        column.cards.append(
            BoardCard(
                id=candidate.id,
                full_name=candidate.full_name,
                position=candidate.position,
                stage=Stage(candidate.stage),
                vacancy_id=candidate.vacancy_id,
                vacancy_title=titles.get(candidate.vacancy_id) if candidate.vacancy_id else None,
                source=candidate.source,
                owner_id=candidate.owner_id,
                stage_since=stage_since,
                days_in_stage=max(0, math.floor((now - stage_since).total_seconds() / SECONDS_PER_DAY)),
                fit_score=scores.get(candidate.id),
                rejection_reason=candidate.rejection_reason,
            )
        )
        column.count += 1
    used = await session.scalars(
        select(Candidate.source)
        .where(Candidate.source.is_not(None), Candidate.erased_at.is_(None))
        .distinct()
        .order_by(Candidate.source)
    )
    return BoardPublic(columns=list(columns.values()), sources=[s for s in used if s], truncated=truncated)
