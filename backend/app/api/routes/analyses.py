"""AI analyses of a candidate: run one (through the provider chain), list them, read the latest."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from app.api.deps import ChainDep, CurrentCandidate, CurrentUser, SessionDep, SettingsDep, client_ip
from app.api.responses import CANDIDATE, Responses, errors
from app.models import Analysis
from app.schemas import AnalysisCreate, AnalysisFailurePublic, AnalysisPublic
from app.services import analysis, audit

router = APIRouter(prefix="/candidates/{candidate_id}/analyses", tags=["analyses"], responses=CANDIDATE)

_FAILURES: Responses = errors(422) | {
    502: {"model": AnalysisFailurePublic, "description": "The model's answer was invalid twice; nothing stored"},
    503: {"model": AnalysisFailurePublic, "description": "Every provider failed; nothing stored"},
}


@router.post("", response_model=AnalysisPublic, status_code=status.HTTP_201_CREATED, responses=_FAILURES)
async def create_analysis(
    candidate: CurrentCandidate,
    user: CurrentUser,
    session: SessionDep,
    chain: ChainDep,
    settings: SettingsDep,
    request: Request,
    body: AnalysisCreate | None = None,
) -> Analysis:
    """Analyse the candidate against `vacancy_id` (default: the candidate's vacancy) and store the result."""
    prepared = await analysis.prepare(session, settings, candidate, body.vacancy_id if body else None)
    # Nothing is written before the model answers: end the read transaction so a long call holds no locks.
    await session.commit()
    outcome = await analysis.run(chain, prepared)
    stored = await analysis.store(session, candidate, prepared, outcome)
    await audit.record(
        session,
        "ai.analysis",
        actor=user,
        entity_type="candidate",
        entity_id=candidate.id,
        ip=client_ip(request),
        details={"analysis_id": stored.id, "provider": stored.provider, "model": stored.model},
    )
    return stored


@router.get("", response_model=list[AnalysisPublic])
async def list_analyses(candidate: CurrentCandidate, session: SessionDep) -> list[Analysis]:
    """Newest first."""
    return await analysis.list_(session, candidate.id)


@router.get("/latest", response_model=AnalysisPublic, responses=errors(404))
async def latest_analysis(candidate: CurrentCandidate, session: SessionDep) -> Analysis:
    return await analysis.latest_or_404(session, candidate.id)
