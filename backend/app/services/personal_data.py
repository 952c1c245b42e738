"""Candidate personal data under 152-FZ: consent records, retention, access requests (export) and erasure.

Retention rule, recomputed after every stage change and consent change:
- consent withdrawn and no consent left → destroy within RETENTION_DAYS of the withdrawal;
- rejected without an active talent-pool consent → destroy within RETENTION_DAYS of the decision;
- otherwise no deadline.
Unsaved resume drafts from intake are removed RETENTION_DAYS after they were parsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.errors import Conflict, NotFound, Unprocessable
from app.models import (
    Analysis,
    AuditEvent,
    Candidate,
    ChatMessage,
    Consent,
    ConsentScope,
    Embedding,
    IntakeJob,
    RetentionReason,
    ShortlistEntry,
    Stage,
    StageChange,
    User,
    Vacancy,
    utcnow,
)
from app.schemas import (
    AnalysisPublic,
    CandidatePublic,
    ChatMessagePublic,
    ConsentCreate,
    ConsentPublic,
    StageChangePublic,
)
from app.services import audit, intake, resumes

ERASED_NAME = "Данные удалены"


async def consents(session: AsyncSession, candidate_id: int) -> list[Consent]:
    rows = await session.scalars(
        select(Consent).where(Consent.candidate_id == candidate_id).order_by(Consent.given_at, Consent.id)
    )
    return list(rows)


async def _rejected_at(session: AsyncSession, candidate: Candidate) -> datetime:
    changed = await session.scalar(
        select(StageChange.changed_at)
        .where(StageChange.candidate_id == candidate.id, StageChange.to_stage == Stage.REJECTED.value)
        .order_by(StageChange.changed_at.desc(), StageChange.id.desc())
        .limit(1)
    )
    return changed or utcnow()


async def refresh_retention(session: AsyncSession, settings: Settings, candidate: Candidate) -> None:
    keep = timedelta(days=settings.RETENTION_DAYS)
    records = await consents(session, candidate.id)
    active = [c for c in records if c.withdrawn_at is None]
    withdrawn = [c.withdrawn_at for c in records if c.withdrawn_at is not None]
    deadline: datetime | None = None
    reason: RetentionReason | None = None
    if withdrawn and not active:
        deadline, reason = max(withdrawn) + keep, RetentionReason.CONSENT_WITHDRAWN
    if candidate.stage == Stage.REJECTED and not any(c.scope == ConsentScope.TALENT_POOL for c in active):
        rejected = await _rejected_at(session, candidate) + keep
        if deadline is None or rejected < deadline:
            deadline, reason = rejected, RetentionReason.REJECTED
    candidate.retention_until = deadline
    candidate.retention_reason = reason
    await session.flush()


async def add_consent(
    session: AsyncSession, settings: Settings, candidate: Candidate, data: ConsentCreate, user: User
) -> Consent:
    if data.vacancy_id is not None and await session.get(Vacancy, data.vacancy_id) is None:
        raise Unprocessable(f"Вакансия {data.vacancy_id} не найдена", field="body.vacancy_id")
    consent = Consent(
        candidate_id=candidate.id,
        scope=data.scope.value,
        vacancy_id=data.vacancy_id,
        text_version=data.text_version,
        channel=data.channel,
        given_at=data.given_at or utcnow(),
        recorded_by=user.email,
    )
    session.add(consent)
    await session.flush()
    await refresh_retention(session, settings, candidate)
    return consent


async def withdraw_consent(
    session: AsyncSession, settings: Settings, candidate: Candidate, consent_id: int, user: User
) -> Consent:
    consent = await session.get(Consent, consent_id)
    if consent is None or consent.candidate_id != candidate.id:
        raise NotFound("Согласие не найдено")
    if consent.withdrawn_at is not None:
        raise Conflict("Согласие уже отозвано")
    consent.withdrawn_at = utcnow()
    consent.withdrawn_by = user.email
    await session.flush()
    await refresh_retention(session, settings, candidate)
    return consent


async def export(session: AsyncSession, candidate: Candidate) -> dict[str, Any]:
    """Everything stored about the candidate, for an access request (152-FZ art. 14)."""
    messages = await session.scalars(
        select(ChatMessage)
        .where(ChatMessage.candidate_id == candidate.id)
        .order_by(ChatMessage.created_at, ChatMessage.id)
    )
    analyses = await session.scalars(
        select(Analysis).where(Analysis.candidate_id == candidate.id).order_by(Analysis.created_at, Analysis.id)
    )
    stages = await session.scalars(
        select(StageChange)
        .where(StageChange.candidate_id == candidate.id)
        .order_by(StageChange.changed_at, StageChange.id)
    )
    events = await session.scalars(
        select(AuditEvent)
        .where(AuditEvent.entity_type == "candidate", AuditEvent.entity_id == candidate.id)
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    consent_rows = await consents(session, candidate.id)
    return {
        "exported_at": utcnow().isoformat(),
        "candidate": CandidatePublic.model_validate(candidate).model_dump(mode="json"),
        "resume_text": candidate.resume_text,
        "resume_file": {
            "filename": candidate.resume_filename,
            "content_type": candidate.resume_content_type,
            "size": candidate.resume_size,
            "uploaded_at": candidate.resume_uploaded_at.isoformat() if candidate.resume_uploaded_at else None,
        }
        if candidate.resume_file
        else None,
        "consents": [ConsentPublic.model_validate(c).model_dump(mode="json") for c in consent_rows],
        "stage_history": [StageChangePublic.model_validate(s).model_dump(mode="json") for s in stages],
        "chat_messages": [ChatMessagePublic.model_validate(m).model_dump(mode="json") for m in messages],
        "analyses": [AnalysisPublic.model_validate(a).model_dump(mode="json") for a in analyses],
        "processing_log": [
            {"at": e.at.isoformat(), "action": e.action, "by": e.actor_email, "details": e.details} for e in events
        ],
    }


async def erase(
    session: AsyncSession, settings: Settings, candidate: Candidate, *, actor: User | None, reason: str
) -> None:
    """Destroy the candidate's personal data: anonymise the row, delete the chat, analyses, stage history
    (rejection reasons are free text) and the resume file; keep consents (they hold no personal data) and a
    tombstone in the audit log. Intake jobs that made the card, embeddings and shortlist entries go too."""
    path = resumes.stored_path(settings, candidate)
    for model in (ShortlistEntry, Embedding, ChatMessage, Analysis, StageChange, IntakeJob):
        await session.execute(delete(model).where(model.candidate_id == candidate.id))
    candidate.full_name = ERASED_NAME
    for name in (
        "email",
        "phone",
        "position",
        "resume_text",
        "city",
        "source",
        "rejection_reason",
        "notes",
        "resume_file",
        "resume_filename",
        "resume_content_type",
        "resume_size",
        "resume_uploaded_at",
        "email_normalized",
        "phone_normalized",
        "retention_until",
        "retention_reason",
        # The search columns copy the name, email, position and resume: erased here explicitly, whether or not
        # this process (e.g. `nexus-ai purge`) has the search module's listeners loaded.
        "search_terms",
        "search_text",
    ):
        setattr(candidate, name, None)
    candidate.skills = []
    candidate.erased_at = utcnow()
    await session.flush()
    if path is not None:
        resumes.remove_after_commit(session, path)
    await audit.record(
        session,
        "candidate.erase",
        actor=actor,
        actor_email=None if actor else "nexus-ai purge",
        entity_type="candidate",
        entity_id=candidate.id,
        details={"reason": reason},
    )


@dataclass(frozen=True)
class Purged:
    erased: list[int]
    """The candidates erased."""
    drafts_removed: int
    """Unsaved intake drafts removed (see `intake.forget_stale_drafts`)."""


async def purge_due(session: AsyncSession, settings: Settings, *, now: datetime | None = None) -> Purged:
    """Erase every candidate whose retention deadline has passed, and the unsaved drafts past it."""
    now = now or utcnow()
    due = await session.scalars(
        select(Candidate).where(
            Candidate.retention_until.is_not(None),
            Candidate.retention_until <= now,
            Candidate.erased_at.is_(None),
        )
    )
    erased = []
    for candidate in due:
        await erase(session, settings, candidate, actor=None, reason="retention")
        erased.append(candidate.id)
    return Purged(erased, await intake.forget_stale_drafts(session, settings, now=now))
