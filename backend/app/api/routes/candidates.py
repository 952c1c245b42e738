"""Minimal candidate CRUD so the chat has someone to talk about."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from app.api.deps import CurrentCandidate, CurrentUser, SessionDep, client_ip
from app.models import Candidate
from app.schemas import CandidateCreate, CandidatePublic, CandidatesPublic, CandidateUpdate
from app.services import audit, candidates

router = APIRouter(prefix="/candidates", tags=["candidates"])


@router.get("/", response_model=CandidatesPublic)
async def list_candidates(
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=200, description="Search in name, email, position")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CandidatesPublic:
    rows, total = await candidates.list_(session, q=q, offset=offset, limit=limit)
    return CandidatesPublic(data=[CandidatePublic.model_validate(r) for r in rows], count=total)


@router.post("/", response_model=CandidatePublic, status_code=status.HTTP_201_CREATED)
async def create_candidate(
    data: CandidateCreate, user: CurrentUser, session: SessionDep, request: Request
) -> Candidate:
    candidate = await candidates.create(session, data)
    await audit.record(
        session, "candidate.create", actor=user, entity_type="candidate", entity_id=candidate.id, ip=client_ip(request)
    )
    return candidate


@router.get("/{candidate_id}", response_model=CandidatePublic)
async def read_candidate(
    candidate: CurrentCandidate, user: CurrentUser, session: SessionDep, request: Request
) -> Candidate:
    """Open a candidate card (recorded in the audit log as a view of personal data)."""
    await audit.record(
        session, "candidate.view", actor=user, entity_type="candidate", entity_id=candidate.id, ip=client_ip(request)
    )
    return candidate


@router.patch("/{candidate_id}", response_model=CandidatePublic)
async def update_candidate(
    candidate: CurrentCandidate, data: CandidateUpdate, user: CurrentUser, session: SessionDep, request: Request
) -> Candidate:
    updated = await candidates.update(session, candidate, data)
    await audit.record(
        session,
        "candidate.update",
        actor=user,
        entity_type="candidate",
        entity_id=candidate.id,
        ip=client_ip(request),
        details={"fields": sorted(data.model_dump(exclude_unset=True))},
    )
    return updated


@router.delete("/{candidate_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_candidate(
    candidate: CurrentCandidate, user: CurrentUser, session: SessionDep, request: Request
) -> Response:
    """Delete the candidate together with the whole chat."""
    await audit.record(
        session, "candidate.delete", actor=user, entity_type="candidate", entity_id=candidate.id, ip=client_ip(request)
    )
    await candidates.delete(session, candidate)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
