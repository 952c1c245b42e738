"""SQLAlchemy tables. Timestamps are timezone-aware UTC on every backend."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """SQLite drops the offset; this puts UTC back so the API always says what zone a time is in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
        list[str]: JSON,
    }


class VacancyStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Vacancy(Base):
    __tablename__ = "vacancies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    requirements: Mapped[str | None] = mapped_column(Text)
    key_skills: Mapped[list[str]] = mapped_column(default=list, server_default=text("'[]'"))
    status: Mapped[str] = mapped_column(String(16), default=VacancyStatus.OPEN, server_default=VacancyStatus.OPEN.value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Stage(StrEnum):
    """The pipeline: new → screening → interview → offer → hired, or rejected (with a reason) from anywhere."""

    NEW = "new"
    SCREENING = "screening"
    INTERVIEW = "interview"
    OFFER = "offer"
    HIRED = "hired"
    REJECTED = "rejected"


class RetentionReason(StrEnum):
    CONSENT_WITHDRAWN = "consent_withdrawn"
    """Every consent was withdrawn."""
    REJECTED = "rejected"
    """Rejected without an active talent-pool consent."""


class Candidate(Base):
    __tablename__ = "candidates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(50))
    position: Mapped[str | None] = mapped_column(String(200))
    resume_text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    city: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str | None] = mapped_column(String(100))
    vacancy_id: Mapped[int | None] = mapped_column(ForeignKey("vacancies.id", ondelete="SET NULL"), index=True)
    stage: Mapped[str] = mapped_column(String(16), default=Stage.NEW, server_default=Stage.NEW.value, index=True)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    skills: Mapped[list[str]] = mapped_column(default=list, server_default=text("'[]'"))
    notes: Mapped[str | None] = mapped_column(Text)
    resume_file: Mapped[str | None] = mapped_column(String(255))
    """The stored file's name inside RESUME_DIR (never a client-supplied path)."""
    resume_filename: Mapped[str | None] = mapped_column(String(255))
    """The name the file was uploaded with, for downloads."""
    resume_content_type: Mapped[str | None] = mapped_column(String(100))
    resume_size: Mapped[int | None]
    resume_uploaded_at: Mapped[datetime | None]
    email_normalized: Mapped[str | None] = mapped_column(String(254), index=True)
    phone_normalized: Mapped[str | None] = mapped_column(String(32), index=True)
    retention_until: Mapped[datetime | None] = mapped_column(index=True)
    """When set, the personal data must be destroyed by then (152-FZ): `nexus-ai purge` erases it."""
    erased_at: Mapped[datetime | None]
    """Set once the personal data is destroyed; the row stays as an anonymous tombstone."""
    retention_reason: Mapped[str | None] = mapped_column(String(32))
    """Why `retention_until` is set: a `RetentionReason`."""
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    """The recruiter who owns the candidate (the creator unless reassigned)."""
    search_terms: Mapped[str | None] = mapped_column(Text, deferred=True)
    """Stems of the name, position, city, skills and resume for full-text search (app.services.search)."""
    search_text: Mapped[str | None] = mapped_column(Text, deferred=True)
    """The lowered name, email, position and skills, one per line, for substring search without a per-row
    lower() (trigram-indexed on PostgreSQL; app.services.search)."""

    messages: Mapped[list[ChatMessage]] = relationship(
        back_populates="candidate", cascade="all, delete-orphan", passive_deletes=True, lazy="raise"
    )
    stage_changes: Mapped[list[StageChange]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="raise"
    )
    analyses: Mapped[list[Analysis]] = relationship(cascade="all, delete-orphan", passive_deletes=True, lazy="raise")


class StageChange(Base):
    """One move of a candidate through the pipeline. Rows are only ever appended."""

    __tablename__ = "stage_changes"
    __table_args__ = (Index("ix_stage_changes_candidate_changed", "candidate_id", "changed_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    from_stage: Mapped[str | None] = mapped_column(String(16))
    """None for the entry written when the candidate was created."""
    to_stage: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    changed_by: Mapped[str | None] = mapped_column(String(200))
    """Who moved the candidate; stays empty until user accounts exist."""
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Analysis(Base):
    """One AI analysis of a candidate. Rows are never rewritten: a new run is a new row.

    `result` holds an `AnalysisResult` document whose `version` says how to read it.
    """

    __tablename__ = "analyses"
    __table_args__ = (Index("ix_analyses_candidate_created", "candidate_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    vacancy_id: Mapped[int | None] = mapped_column(ForeignKey("vacancies.id", ondelete="SET NULL"), index=True)
    version: Mapped[int]
    prompt_version: Mapped[str] = mapped_column(String(32))
    result: Mapped[dict[str, Any]]
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(200))
    prompt_tokens: Mapped[int | None]
    completion_tokens: Mapped[int | None]
    latency_ms: Mapped[int]
    attempts: Mapped[list[Any] | None]
    dropped_quotes: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Role(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


class MessageStatus(StrEnum):
    OK = "ok"
    """A user message that has its answer, or a stored assistant reply."""
    PENDING = "pending"
    """A user message whose answer is being generated."""
    FAILED = "failed"
    """A user message for which every provider failed; `error` says why and regenerate can retry."""


class ChatMessage(Base):
    """One stored chat message. Assistant rows are never rewritten: a regenerated answer is a new row."""

    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_candidate_created", "candidate_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.OK)
    error: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(200))
    prompt_tokens: Mapped[int | None]
    completion_tokens: Mapped[int | None]
    latency_ms: Mapped[int | None]
    ttft_ms: Mapped[int | None]
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("chat_messages.id", ondelete="SET NULL"))
    attempts: Mapped[list[Any] | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    """The process answering this pending question; it renews `lease_expires_at` while it works."""
    lease_expires_at: Mapped[datetime | None] = mapped_column(index=True)
    """A pending question whose lease ran out lost its process: any instance's sweeper fails it."""

    candidate: Mapped[Candidate] = relationship(back_populates="messages", lazy="raise")


class UserRole(StrEnum):
    ADMIN = "admin"
    RECRUITER = "recruiter"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    """Stored lower-cased, so logins are case-insensitive."""
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default=UserRole.RECRUITER)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuthSession(Base):
    """A login. Only hashes of the token and CSRF token are stored; revoking sets `revoked_at`."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="raise")


class AuditEvent(Base):
    """Append-only: who did what, when. `details` never holds personal data, only ids and field names."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor_email: Mapped[str | None] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity_type: Mapped[str | None] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None]


class ConsentScope(StrEnum):
    VACANCY = "vacancy"
    """Processing for the selection to one vacancy."""
    TALENT_POOL = "talent_pool"
    """Keeping the candidate in the reserve for future vacancies."""


class Consent(Base):
    """A candidate's consent to processing, as its own record (152-FZ: a separate document since 2025-09-01).

    Never rewritten except to mark the withdrawal. Holds no personal data itself.
    """

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(16))
    vacancy_id: Mapped[int | None] = mapped_column(ForeignKey("vacancies.id", ondelete="SET NULL"))
    text_version: Mapped[str] = mapped_column(String(50))
    channel: Mapped[str] = mapped_column(String(50))
    given_at: Mapped[datetime]
    recorded_by: Mapped[str | None] = mapped_column(String(254))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by: Mapped[str | None] = mapped_column(String(254))


class ProviderUsage(Base):
    """Requests and tokens per provider per day (Moscow time), shared by every instance through the database."""

    __tablename__ = "provider_usage"

    day: Mapped[date] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    requests: Mapped[int] = mapped_column(default=0)
    failures: Mapped[int] = mapped_column(default=0)
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)


class ProviderLease(Base):
    """One concurrency slot at a provider, held by one call of one process until it ends or `expires_at`
    passes (the holder renews it while the call runs, so a crashed holder frees its slot)."""

    __tablename__ = "provider_leases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32), index=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]


class ProviderBreaker(Base):
    """A provider's circuit breaker, shared by every process of the deployment."""

    __tablename__ = "provider_breakers"

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    """Consecutive health failures while closed."""
    opened_at: Mapped[datetime | None]
    """Set while open; after the cooldown one probe may go through."""
    probe_until: Mapped[datetime | None]
    """A probe is in flight until then (a crashed prober's claim runs out)."""


class IntakeState(StrEnum):
    """A resume's way to a card: queued → parsing → ready (a draft to review) → saved, or failed with a reason."""

    QUEUED = "queued"
    PARSING = "parsing"
    READY = "ready"
    SAVED = "saved"
    FAILED = "failed"


class IntakeBatch(Base):
    """Resumes uploaded together; its jobs give the progress and the ETA."""

    __tablename__ = "intake_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    jobs: Mapped[list[IntakeJob]] = relationship(cascade="all, delete-orphan", passive_deletes=True, lazy="raise")


class IntakeJob(Base):
    """One resume of a batch. Stored so that a restart loses nothing: a worker claims it under a lease."""

    __tablename__ = "intake_jobs"
    __table_args__ = (Index("ix_intake_jobs_state_lease", "state", "lease_until"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("intake_batches.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16), default=IntakeState.QUEUED)
    error: Mapped[str | None] = mapped_column(Text)
    """Why the job failed, in Russian for the recruiter."""
    note: Mapped[str | None] = mapped_column(Text)
    """Something the recruiter should know about a ready draft (e.g. the model could not fill it)."""
    filename: Mapped[str] = mapped_column(String(255))
    stored_file: Mapped[str | None] = mapped_column(String(255))
    """The uploaded file's name inside RESUME_DIR/intake until the draft is saved."""
    text: Mapped[str | None] = mapped_column(Text)
    """The resume text: pasted, or extracted from the file."""
    contacts: Mapped[dict[str, Any] | None]
    """Emails, phones and links found locally; never sent to a model."""
    draft: Mapped[dict[str, Any] | None]
    """The fields the model extracted (a `ResumeDraft`), or None when left for manual entry."""
    provider: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[list[Any] | None]
    candidate_id: Mapped[int | None] = mapped_column(ForeignKey("candidates.id", ondelete="SET NULL"), index=True)
    lease_until: Mapped[datetime | None]
    """While parsing: the claim's end; a job whose worker died is taken again after it."""
    tries: Mapped[int] = mapped_column(default=0)
    worker: Mapped[str | None] = mapped_column(String(100))
    """The process that took the job last (host:pid)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class Embedding(Base):
    """A stored embedding of a candidate's contact-free profile or of a vacancy, for one model.

    `text_hash` is the SHA-256 of the embedded text: the vector is recomputed only when the text changes.
    `vector` holds little-endian float32 values (works on plain PostgreSQL and SQLite, no pgvector needed).
    """

    __tablename__ = "embeddings"
    __table_args__ = (
        Index("ix_embeddings_candidate_model", "candidate_id", "model", unique=True),
        Index("ix_embeddings_vacancy_model", "vacancy_id", "model", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int | None] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    vacancy_id: Mapped[int | None] = mapped_column(ForeignKey("vacancies.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(100))
    text_hash: Mapped[str] = mapped_column(String(64))
    dim: Mapped[int]
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShortlistEntry(Base):
    """One candidate's place in a vacancy's latest shortlist (the whole list is replaced on each run)."""

    __tablename__ = "shortlist_entries"
    __table_args__ = (Index("ix_shortlist_entries_vacancy_rank", "vacancy_id", "rank"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vacancy_id: Mapped[int] = mapped_column(ForeignKey("vacancies.id", ondelete="CASCADE"))
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int]
    score: Mapped[float]
    """Cosine similarity of the profile and the vacancy, 0–1."""
    model: Mapped[str] = mapped_column(String(100))
    matched_skills: Mapped[list[str]] = mapped_column(default=list)
    missing_skills: Mapped[list[str]] = mapped_column(default=list)
    analysis_id: Mapped[int | None] = mapped_column(ForeignKey("analyses.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
