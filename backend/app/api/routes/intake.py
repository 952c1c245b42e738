"""Resume intake: resumes (files, a zip, or pasted text) become draft cards; review, correct and save them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile, status

from app.api.deps import (
    ChainDep,
    CurrentUser,
    IntakeQueueDep,
    SessionDep,
    SessionFactoryDep,
    SettingsDep,
    client_ip,
)
from app.api.responses import errors
from app.core.errors import Unprocessable
from app.models import Candidate
from app.schemas import (
    DB_INT_MAX,
    CandidatePublic,
    DuplicateCandidatePublic,
    IntakeBatchPublic,
    IntakeJobPublic,
    IntakeSave,
    NoNul,
)
from app.services import intake

router = APIRouter(prefix="/intake", tags=["intake"])

JobID = Annotated[int, Path(gt=0, le=DB_INT_MAX)]
NOTHING = "Загрузите файл резюме или вставьте его текст"


@router.post("/batches", response_model=IntakeBatchPublic, status_code=status.HTTP_202_ACCEPTED, responses=errors(422))
async def upload_batch(
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    queue: IntakeQueueDep,
    request: Request,
    files: Annotated[list[UploadFile], File(description="Up to 200 PDF/DOCX files, or one zip of them")],
) -> IntakeBatchPublic:
    """Queue every file as its own job; poll `GET /intake/batches/{id}` for progress and the ETA."""
    incoming = await intake.read_uploads(files, settings)
    batch, job_ids = await intake.create_batch(session, settings, user, incoming, ip=client_ip(request))
    # Commit point: the jobs must be durable (and visible to the workers) before they are enqueued.
    await session.commit()
    await queue.enqueue(job_ids)
    return await intake.batch_public(session, batch.id)


@router.get("/batches/{batch_id}", response_model=IntakeBatchPublic, responses=errors(404))
async def read_batch(batch_id: JobID, session: SessionDep) -> IntakeBatchPublic:
    return await intake.batch_public(session, batch_id)


@router.post("/drafts", response_model=IntakeJobPublic, status_code=status.HTTP_201_CREATED, responses=errors(422))
async def create_draft(
    user: CurrentUser,
    session: SessionDep,
    session_factory: SessionFactoryDep,
    settings: SettingsDep,
    chain: ChainDep,
    request: Request,
    file: Annotated[UploadFile | None, File(description="PDF or DOCX")] = None,
    text: Annotated[str | None, Form(max_length=200_000, description="Pasted resume text"), NoNul] = None,
) -> IntakeJobPublic:
    """One resume parsed right away (the recruiter is waiting): the draft to review, with duplicates."""
    ip = client_ip(request)
    if file is not None:
        incoming = await intake.read_uploads([file], settings)
        batch, job_ids = await intake.create_batch(session, settings, user, incoming, ip=ip)
        jobs = job_ids or [await intake.first_job_id(session, batch.id)]
    elif text and text.strip():
        batch, job = await intake.create_text_job(session, user, text.strip(), ip=ip)
        job_ids = jobs = [job.id]
    else:
        raise Unprocessable(NOTHING)
    # Commit point: the job is durable before the model is asked, so a crash leaves it to the queue's recovery.
    await session.commit()
    for job_id in job_ids:
        await intake.process(session_factory, settings, chain, job_id, background=False)
    job_row = await intake.get_job_or_404(session, jobs[0])
    await session.refresh(job_row)
    return await intake.job_public(session, job_row)


@router.get("/jobs/{job_id}", response_model=IntakeJobPublic, responses=errors(404))
async def read_job(job_id: JobID, session: SessionDep) -> IntakeJobPublic:
    return await intake.job_public(session, await intake.get_job_or_404(session, job_id))


_DUPLICATE: dict[int | str, dict[str, Any]] = {
    **errors(404, 410, 422),
    409: {
        "model": DuplicateCandidatePublic,
        "description": "A candidate with the same email or phone exists, or the job is not ready",
    },
}


@router.post(
    "/jobs/{job_id}/save", response_model=CandidatePublic, status_code=status.HTTP_201_CREATED, responses=_DUPLICATE
)
async def save_job(
    job_id: JobID,
    data: IntakeSave,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    allow_duplicate: Annotated[
        bool, Query(description="Create even if a candidate with the same contacts exists")
    ] = False,
) -> Candidate:
    """Save the reviewed card as a new candidate, or merge it into `merge_into` (one of the duplicates)."""
    job = await intake.get_job_or_404(session, job_id)
    return await intake.save(
        session, settings, job, data, actor=user, allow_duplicate=allow_duplicate, ip=client_ip(request)
    )


@router.delete("/jobs/{job_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409))
async def discard_job(job_id: JobID, session: SessionDep, settings: SettingsDep) -> Response:
    """Forget a draft (and its file) without creating a candidate."""
    await intake.discard(session, settings, await intake.get_job_or_404(session, job_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
