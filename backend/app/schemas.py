"""API models, one per direction: what comes in (Create/Update) and what goes out (Public)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

NonBlankName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OptionalText200 = Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=200)]
Phone = Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=50)]


class CandidateBase(BaseModel):
    full_name: NonBlankName
    email: EmailStr | None = None
    phone: Phone = None
    position: OptionalText200 = None
    resume_text: Annotated[str | None, Field(max_length=200_000)] = None


class CandidateCreate(CandidateBase):
    pass


class CandidateUpdate(BaseModel):
    """Every field optional; only the fields sent are changed."""

    full_name: NonBlankName | None = None
    email: EmailStr | None = None
    phone: Phone = None
    position: OptionalText200 = None
    resume_text: Annotated[str | None, Field(max_length=200_000)] = None


class CandidatePublic(CandidateBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str | None = None
    created_at: datetime
    updated_at: datetime


class CandidatesPublic(BaseModel):
    data: list[CandidatePublic]
    count: int


class ChatMessageCreate(BaseModel):
    """The guide's request body for `POST /api/chat/`."""

    candidate_id: int = Field(gt=0)
    role: Literal["user", "assistant"] = "user"
    content: str


class ProviderAttempt(BaseModel):
    """A provider that failed before the answer (or before the failure), and why."""

    provider: str
    error: str
    detail: str = ""


class ChatMessagePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    candidate_id: int
    role: str
    content: str
    created_at: datetime
    status: str
    error: str | None = None
    provider: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: int | None = None
    ttft_ms: int | None = None
    reply_to_id: int | None = None
    attempts: list[ProviderAttempt] | None = None


class ChatTurnPublic(BaseModel):
    """What `POST /api/chat/` stored: the posted message and, for a user message, the reply."""

    user_message: ChatMessagePublic | None
    assistant_message: ChatMessagePublic | None


class ChatFailurePublic(BaseModel):
    detail: str
    user_message_id: int
    attempts: list[ProviderAttempt]


class ProviderStatus(BaseModel):
    name: str
    configured: bool
    model: str | None
    breaker: Literal["closed", "open", "half_open"]


class ReadyPublic(BaseModel):
    status: Literal["ok", "degraded", "unavailable"]
    database: bool
    providers: list[ProviderStatus]
    warnings: list[str] = []


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    display_name: str
    role: Literal["admin", "recruiter"]
    is_active: bool
    created_at: datetime


class UserCreate(BaseModel):
    email: EmailStr
    display_name: NonBlankName
    role: Literal["admin", "recruiter"] = "recruiter"
    password: Annotated[str, Field(min_length=10, max_length=200)]


class UserUpdate(BaseModel):
    display_name: NonBlankName | None = None
    role: Literal["admin", "recruiter"] | None = None
    is_active: bool | None = None
    password: Annotated[str | None, Field(min_length=10, max_length=200)] = None


class LoginPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    csrf_token: str
    expires_at: datetime
    user: UserPublic


class AuditEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor_id: int | None
    actor_email: str | None
    action: str
    entity_type: str | None
    entity_id: int | None
    ip: str | None
    details: dict[str, Any] | None


class AuditEventsPublic(BaseModel):
    data: list[AuditEventPublic]
    count: int
