"""Candidates: CRUD with search and filters, the resume file, and the pipeline stage with its history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, Response, UploadFile, status
from fastapi.responses import FileResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import AdminUser, CurrentCandidate, CurrentUser, SessionDep, SettingsDep, client_ip
from app.api.responses import CANDIDATE, errors
from app.models import Candidate, Stage, StageChange, User
from app.schemas import (
    DB_INT_MAX,
    CandidateCreate,
    CandidatePublic,
    CandidatesPublic,
    CandidateUpdate,
    DuplicateCandidatePublic,
    NoNul,
    StageChangeCreate,
    StageChangePublic,
)
from app.services import audit, candidates, personal_data, resumes

router = APIRouter(prefix="/candidates", tags=["candidates"])

AllowDuplicate = Annotated[bool, Query(description="Save even if a candidate with the same email or phone exists")]
_DUPLICATE = errors(409, 422, c409=DuplicateCandidatePublic)
"""409: a candidate with the same email or phone exists; 422: the vacancy does not exist."""


async def _audit(
    session: AsyncSession, request: Request, user: User, action: str, candidate_id: int, **details: Any
) -> None:
    await audit.record(
        session,
        action,
        actor=user,
        entity_type="candidate",
        entity_id=candidate_id,
        ip=client_ip(request),
        details=details or None,
    )


@router.get("/", response_model=CandidatesPublic)
async def list_candidates(
    session: SessionDep,
    q: Annotated[
        str | None,
        Query(
            max_length=200, description="Search in name, email, position, skills and resume text (word forms), ranked"
        ),
        NoNul,
    ] = None,
    stage: Stage | None = None,
    vacancy_id: Annotated[int | None, Query(gt=0, le=DB_INT_MAX)] = None,
    source: Annotated[str | None, Query(max_length=100), NoNul] = None,
    owner_id: Annotated[int | None, Query(gt=0, le=DB_INT_MAX, description="The owning recruiter")] = None,
    offset: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CandidatesPublic:
    """Newest first; `count` is the total matching the filters."""
    rows, total = await candidates.list_(
        session,
        q=q,
        stage=stage,
        vacancy_id=vacancy_id,
        source=source,
        owner_id=owner_id,
        offset=offset,
        limit=limit,
    )
    return CandidatesPublic(data=[CandidatePublic.model_validate(r) for r in rows], count=total)


@router.post("/", response_model=CandidatePublic, status_code=status.HTTP_201_CREATED, responses=_DUPLICATE)
async def create_candidate(
    data: CandidateCreate,
    user: CurrentUser,
    session: SessionDep,
    request: Request,
    allow_duplicate: AllowDuplicate = False,
) -> Candidate:
    candidate = await candidates.create(session, data, allow_duplicate=allow_duplicate, owner_id=user.id)
    await _audit(session, request, user, "candidate.create", candidate.id)
    return candidate


@router.get("/{candidate_id}", response_model=CandidatePublic, responses=CANDIDATE)
async def read_candidate(
    candidate: CurrentCandidate, user: CurrentUser, session: SessionDep, request: Request
) -> Candidate:
    """Open a candidate card (recorded in the audit log as a view of personal data)."""
    await _audit(session, request, user, "candidate.view", candidate.id)
    return candidate


@router.patch("/{candidate_id}", response_model=CandidatePublic, responses=CANDIDATE | _DUPLICATE)
async def update_candidate(
    candidate: CurrentCandidate,
    data: CandidateUpdate,
    user: CurrentUser,
    session: SessionDep,
    request: Request,
    allow_duplicate: AllowDuplicate = False,
) -> Candidate:
    updated = await candidates.update(session, candidate, data, allow_duplicate=allow_duplicate)
    await _audit(session, request, user, "candidate.update", candidate.id, fields=sorted(data.model_fields_set))
    return updated


@router.delete("/{candidate_id}", status_code=status.HTTP_204_NO_CONTENT, responses=CANDIDATE)
async def delete_candidate(
    candidate: CurrentCandidate, user: CurrentUser, session: SessionDep, settings: SettingsDep, request: Request
) -> Response:
    """Delete the candidate together with the chat, stage history, analyses and the resume file."""
    await _audit(session, request, user, "candidate.delete", candidate.id)
    await candidates.delete(session, settings, candidate)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{candidate_id}/resume", response_model=CandidatePublic, responses=CANDIDATE | errors(413, 415, 422))
async def upload_resume(
    candidate: CurrentCandidate,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    file: Annotated[UploadFile, File(description="PDF or DOCX")],
) -> Candidate:
    """Store the file and replace the resume text with the text extracted from it."""
    resume = await resumes.read_upload(file, settings)
    await resumes.attach(session, settings, candidate, resume)
    await _audit(session, request, user, "candidate.resume_upload", candidate.id)
    return candidate


@router.get(
    "/{candidate_id}/resume",
    response_class=FileResponse,
    responses={200: {"content": {"application/pdf": {}, resumes.CONTENT_TYPES["docx"]: {}}}, **CANDIDATE},
)
async def download_resume(candidate: CurrentCandidate, settings: SettingsDep) -> FileResponse:
    download = resumes.download_or_404(settings, candidate)
    return FileResponse(download.path, media_type=download.media_type, filename=download.filename)


@router.post(
    "/{candidate_id}/stage",
    response_model=StageChangePublic,
    status_code=status.HTTP_201_CREATED,
    responses=CANDIDATE | errors(409, 422),
)
async def change_stage(
    candidate: CurrentCandidate,
    data: StageChangeCreate,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> StageChange:
    """Move the candidate to another stage; `rejected` needs a `reason`. The decision is recorded as the user's."""
    change = await candidates.change_stage(session, candidate, data, changed_by=user.email)
    await personal_data.refresh_retention(session, settings, candidate)
    await _audit(
        session, request, user, "candidate.stage", candidate.id, from_stage=change.from_stage, to_stage=change.to_stage
    )
    return change


@router.get("/{candidate_id}/stages", response_model=list[StageChangePublic], responses=CANDIDATE)
async def stage_history(candidate: CurrentCandidate, session: SessionDep) -> list[StageChange]:
    """Every move of the candidate, oldest first."""
    return await candidates.stage_history(session, candidate.id)


@router.get("/{candidate_id}/export", responses=CANDIDATE)
async def export_candidate(
    candidate: CurrentCandidate, user: AdminUser, session: SessionDep, request: Request
) -> dict[str, Any]:
    """Everything stored about the candidate as JSON, to answer their access request (administrators only)."""
    await _audit(session, request, user, "candidate.export", candidate.id)
    return await personal_data.export(session, candidate)
