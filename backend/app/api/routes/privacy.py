"""Admin-only destruction of personal data: the retention purge and erasure on request."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from app.api.deps import AdminUser, CurrentCandidate, SessionDep, SettingsDep
from app.api.responses import CANDIDATE
from app.schemas import PurgePublic
from app.services import personal_data

router = APIRouter(prefix="/privacy", tags=["privacy"])


@router.post("/purge", response_model=PurgePublic)
async def purge(session: SessionDep, settings: SettingsDep) -> PurgePublic:
    """Erase every candidate whose retention date has passed, and unsaved resume drafts past the retention
    period (what `nexus-ai purge` does)."""
    purged = await personal_data.purge_due(session, settings)
    return PurgePublic(erased=purged.erased, drafts_removed=purged.drafts_removed)


@router.post("/candidates/{candidate_id}/erase", status_code=status.HTTP_204_NO_CONTENT, responses=CANDIDATE)
async def erase_candidate(
    candidate: CurrentCandidate, admin: AdminUser, session: SessionDep, settings: SettingsDep
) -> Response:
    """Erase one candidate's personal data now (e.g. on the candidate's request)."""
    await personal_data.erase(session, settings, candidate, actor=admin, reason="request")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
