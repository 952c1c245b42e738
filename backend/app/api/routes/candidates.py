"""Candidates: CRUD with search and filters, the resume file, and the pipeline stage with its history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Response, UploadFile, status
from fastapi.responses import FileResponse

from app.api.deps import CurrentCandidate, SessionDep, SettingsDep
from app.models import Candidate, Stage, StageChange
from app.schemas import (
    CandidateCreate,
    CandidatePublic,
    CandidatesPublic,
    CandidateUpdate,
    DuplicateCandidatePublic,
    StageChangeCreate,
    StageChangePublic,
)
from app.services import candidates, resumes

router = APIRouter(prefix="/candidates", tags=["candidates"])

AllowDuplicate = Annotated[bool, Query(description="Save even if a candidate with the same email or phone exists")]
_DUPLICATE: dict[int | str, dict[str, Any]] = {
    409: {"model": DuplicateCandidatePublic, "description": "A candidate with the same email or phone exists"}
}


@router.get("/", response_model=CandidatesPublic)
async def list_candidates(
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=200, description="Search in name, email, position, skills")] = None,
    stage: Stage | None = None,
    vacancy_id: Annotated[int | None, Query(gt=0)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CandidatesPublic:
    """Newest first; `count` is the total matching the filters."""
    rows, total = await candidates.list_(session, q=q, stage=stage, vacancy_id=vacancy_id, offset=offset, limit=limit)
    return CandidatesPublic(data=[CandidatePublic.model_validate(r) for r in rows], count=total)


@router.post("/", response_model=CandidatePublic, status_code=status.HTTP_201_CREATED, responses=_DUPLICATE)
async def create_candidate(
    data: CandidateCreate, session: SessionDep, allow_duplicate: AllowDuplicate = False
) -> Candidate:
    return await candidates.create(session, data, allow_duplicate=allow_duplicate)


@router.get("/{candidate_id}", response_model=CandidatePublic)
async def read_candidate(candidate: CurrentCandidate) -> Candidate:
    return candidate


@router.patch("/{candidate_id}", response_model=CandidatePublic, responses=_DUPLICATE)
async def update_candidate(
    candidate: CurrentCandidate, data: CandidateUpdate, session: SessionDep, allow_duplicate: AllowDuplicate = False
) -> Candidate:
    return await candidates.update(session, candidate, data, allow_duplicate=allow_duplicate)


@router.delete("/{candidate_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_candidate(candidate: CurrentCandidate, session: SessionDep, settings: SettingsDep) -> Response:
    """Delete the candidate together with the chat, stage history, analyses and the resume file."""
    await candidates.delete(session, settings, candidate)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{candidate_id}/resume", response_model=CandidatePublic)
async def upload_resume(
    candidate: CurrentCandidate,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="PDF or DOCX")],
) -> Candidate:
    """Store the file and replace the resume text with the text extracted from it."""
    resume = await resumes.read_upload(file, settings)
    await resumes.attach(session, settings, candidate, resume)
    return candidate


@router.get(
    "/{candidate_id}/resume",
    response_class=FileResponse,
    responses={200: {"content": {"application/pdf": {}, resumes.CONTENT_TYPES["docx"]: {}}}},
)
async def download_resume(candidate: CurrentCandidate, settings: SettingsDep) -> FileResponse:
    path = resumes.file_or_404(settings, candidate)
    return FileResponse(path, media_type=candidate.resume_content_type, filename=candidate.resume_filename)


@router.post("/{candidate_id}/stage", response_model=StageChangePublic, status_code=status.HTTP_201_CREATED)
async def change_stage(candidate: CurrentCandidate, data: StageChangeCreate, session: SessionDep) -> StageChange:
    """Move the candidate to another stage; `rejected` needs a `reason`."""
    return await candidates.change_stage(session, candidate, data)


@router.get("/{candidate_id}/stages", response_model=list[StageChangePublic])
async def stage_history(candidate: CurrentCandidate, session: SessionDep) -> list[StageChange]:
    """Every move of the candidate, oldest first."""
    return await candidates.stage_history(session, candidate.id)
