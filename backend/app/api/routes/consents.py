"""A candidate's consents to processing: record, list, withdraw. Each change recomputes the retention date."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import CurrentCandidate, CurrentUser, SessionDep, SettingsDep, client_ip
from app.api.responses import CANDIDATE, errors
from app.models import Consent, User
from app.schemas import DB_INT_MAX, ConsentCreate, ConsentPublic
from app.services import audit, personal_data

router = APIRouter(prefix="/candidates/{candidate_id}/consents", tags=["consents"], responses=CANDIDATE)


async def _audit(session: AsyncSession, request: Request, user: User, action: str, consent: Consent) -> None:
    await audit.record(
        session,
        action,
        actor=user,
        entity_type="candidate",
        entity_id=consent.candidate_id,
        ip=client_ip(request),
        details={"consent_id": consent.id, "scope": consent.scope},
    )


@router.get("", response_model=list[ConsentPublic])
async def list_consents(candidate: CurrentCandidate, session: SessionDep) -> list[Consent]:
    return await personal_data.consents(session, candidate.id)


@router.post("", response_model=ConsentPublic, status_code=status.HTTP_201_CREATED, responses=errors(422))
async def add_consent(
    candidate: CurrentCandidate,
    data: ConsentCreate,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> Consent:
    consent = await personal_data.add_consent(session, settings, candidate, data, user)
    await _audit(session, request, user, "consent.add", consent)
    return consent


@router.post("/{consent_id}/withdraw", response_model=ConsentPublic, responses=errors(404, 409))
async def withdraw_consent(
    candidate: CurrentCandidate,
    consent_id: Annotated[int, Path(gt=0, le=DB_INT_MAX)],
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> Consent:
    consent = await personal_data.withdraw_consent(session, settings, candidate, consent_id, user)
    await _audit(session, request, user, "consent.withdraw", consent)
    return consent
