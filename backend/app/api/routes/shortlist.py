"""A vacancy's shortlist: rank the whole pool by embeddings, analyse the best N, read the latest list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from app.api.deps import ChainDep, CurrentUser, SessionDep, SettingsDep, VectorCacheDep, client_ip
from app.api.responses import errors
from app.models import Analysis, Candidate, ShortlistEntry
from app.schemas import DB_INT_MAX, ShortlistAnalysis, ShortlistCreate, ShortlistEntryPublic, ShortlistPublic
from app.services import shortlist

router = APIRouter(prefix="/vacancies/{vacancy_id}/shortlist", tags=["shortlist"])

VacancyID = Annotated[int, Path(gt=0, le=DB_INT_MAX)]


def _public(
    vacancy_id: int,
    rows: list[tuple[ShortlistEntry, Candidate, Analysis | None]],
    fallback_reason: str | None = None,
) -> ShortlistPublic:
    entries = []
    for entry, candidate, analysis in rows:
        summary = None
        if analysis is not None:
            result = analysis.result
            summary = ShortlistAnalysis(
                id=analysis.id,
                fit_score=int(result["fit_score"]),
                summary=str(result["summary"]),
                recommendation=str(result["recommendation"]),
            )
        entries.append(
            ShortlistEntryPublic(
                rank=entry.rank,
                candidate_id=candidate.id,
                full_name=candidate.full_name,
                position=candidate.position,
                stage=candidate.stage,
                score=round(entry.score, 4),
                matched_skills=entry.matched_skills,
                missing_skills=entry.missing_skills,
                analysis=summary,
            )
        )
    first = rows[0][0] if rows else None
    return ShortlistPublic(
        vacancy_id=vacancy_id,
        model=first.model if first else None,
        fallback_reason=fallback_reason,
        created_at=first.created_at if first else None,
        entries=entries,
    )


@router.post("", response_model=ShortlistPublic, responses=errors(404, 422))
async def build_shortlist(
    vacancy_id: VacancyID,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    chain: ChainDep,
    cache: VectorCacheDep,
    request: Request,
    body: ShortlistCreate | None = None,
) -> ShortlistPublic:
    """Rank every candidate for the vacancy and analyse the best `top_n`; replaces the stored shortlist."""
    pool = await shortlist.prepare(session, settings, chain, cache, vacancy_id)
    # Commit point: the new embeddings are durable before the long analyses start.
    await session.commit()
    top_n = body.top_n if body and body.top_n else settings.SHORTLIST_TOP_N
    analyses: dict[int, int | None] = {}
    for candidate_id in shortlist.to_analyse(pool, top_n):
        analyses[candidate_id] = await shortlist.analyse(session, settings, chain, pool, candidate_id)
        # Commit point: each analysis is durable at once, and no write lock is held during the next model call.
        await session.commit()
    await shortlist.store(session, pool, analyses, actor=user, ip=client_ip(request))
    return _public(vacancy_id, await shortlist.current(session, vacancy_id), pool.fallback_reason)


@router.get("", response_model=ShortlistPublic, responses=errors(404))
async def read_shortlist(vacancy_id: VacancyID, session: SessionDep) -> ShortlistPublic:
    """The latest shortlist, best first (erased candidates are gone from it)."""
    return _public(vacancy_id, await shortlist.current(session, vacancy_id))
