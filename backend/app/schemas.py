"""API models, one per direction: what comes in (Create/Update) and what goes out (Public)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

from app.models import ConsentScope, IntakeState, RetentionReason, Stage, VacancyStatus

NonBlankName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OptionalText200 = Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=200)]
OptionalText100 = Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=100)]
Phone = Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=50)]
ResumeText = Annotated[str | None, Field(max_length=200_000)]
LongText = Annotated[str | None, Field(max_length=20_000)]
Skill = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def _unique_skills(values: list[str]) -> list[str]:
    seen: set[str] = set()
    unique = []
    for value in values:
        key = value.casefold()
        if key not in seen:
            seen.add(key)
            unique.append(value)
    return unique


Skills = Annotated[list[Skill], Field(max_length=100), AfterValidator(_unique_skills)]
DB_INT_MAX = 2**31 - 1
"""The largest value of an integer column (PostgreSQL `integer` is 32-bit): ids and offsets past it are a 422."""
Id = Annotated[int, Field(gt=0, le=DB_INT_MAX)]
VacancyRef = Annotated[int | None, Field(gt=0, le=DB_INT_MAX)]


NUL_REFUSED = "NUL character refused"


def refuse_nul(value: Any) -> Any:
    """PostgreSQL cannot store U+0000 in text and SQLite would keep it: refuse it the same way on both (422)."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError(NUL_REFUSED)
    if isinstance(value, list | tuple):
        for item in value:
            refuse_nul(item)
    return value


NoNul = AfterValidator(refuse_nul)
"""For query parameters: `Annotated[str | None, Query(...), NoNul]`."""


class InputModel(BaseModel):
    """Base of every request body: no string in it may contain a NUL character."""

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        return refuse_nul(value)


# --- vacancies ---------------------------------------------------------------------------------------


class VacancyBase(InputModel):
    title: NonBlankName
    description: LongText = None
    requirements: LongText = None
    key_skills: Skills = []
    status: VacancyStatus = VacancyStatus.OPEN


class VacancyCreate(VacancyBase):
    pass


class VacancyUpdate(InputModel):
    """Every field optional; only the fields sent are changed."""

    title: NonBlankName | None = None
    description: LongText = None
    requirements: LongText = None
    key_skills: Skills | None = None
    status: VacancyStatus | None = None


class VacancyPublic(VacancyBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    updated_at: datetime


class VacancyCounts(BaseModel):
    """How many candidates a vacancy has, in total and by outcome."""

    candidates: int = 0
    in_progress: int = 0
    hired: int = 0
    rejected: int = 0


class VacancyListItem(VacancyPublic):
    counts: VacancyCounts = VacancyCounts()


class VacanciesPublic(BaseModel):
    data: list[VacancyListItem]
    count: int


# --- candidates --------------------------------------------------------------------------------------


class CandidateBase(InputModel):
    full_name: NonBlankName
    email: EmailStr | None = None
    phone: Phone = None
    position: OptionalText200 = None
    resume_text: ResumeText = None
    city: OptionalText100 = None
    source: OptionalText100 = None
    vacancy_id: VacancyRef = None
    skills: Skills = []
    notes: LongText = None


class CandidateCreate(CandidateBase):
    pass


class CandidateUpdate(InputModel):
    """Every field optional; only the fields sent are changed. The stage moves only via `POST …/stage`."""

    full_name: NonBlankName | None = None
    email: EmailStr | None = None
    phone: Phone = None
    position: OptionalText200 = None
    resume_text: ResumeText = None
    city: OptionalText100 = None
    source: OptionalText100 = None
    vacancy_id: VacancyRef = None
    skills: Skills | None = None
    notes: LongText = None
    owner_id: Annotated[int | None, Field(gt=0)] = None
    """The owning recruiter; `null` leaves the candidate without one."""


class CandidatePublic(CandidateBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str | None = None
    stage: Stage
    rejection_reason: str | None = None
    resume_filename: str | None = None
    resume_content_type: str | None = None
    resume_size: int | None = None
    resume_uploaded_at: datetime | None = None
    retention_until: datetime | None = None
    retention_reason: RetentionReason | None = None
    owner_id: int | None = None
    created_at: datetime
    updated_at: datetime


class CandidatesPublic(BaseModel):
    data: list[CandidatePublic]
    count: int


class DuplicateCandidatePublic(BaseModel):
    detail: str
    existing_candidate_id: int
    matched: list[Literal["email", "phone"]]


class StageChangeCreate(InputModel):
    stage: Stage
    reason: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=2000)] = None


class StageChangePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    candidate_id: int
    from_stage: Stage | None
    to_stage: Stage
    reason: str | None
    changed_by: str | None
    changed_at: datetime


class ChatMessageCreate(InputModel):
    """The guide's request body for `POST /api/chat/`."""

    candidate_id: Id
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
    foreign: bool
    """Outside Russia: sending personal data there is a cross-border transfer (see README)."""
    model: str | None
    breaker: Literal["closed", "open", "half_open"]


class ReadyPublic(BaseModel):
    status: Literal["ok", "degraded", "unavailable"]
    database: bool
    providers: list[ProviderStatus]
    warnings: list[str] = []


# --- AI analysis -------------------------------------------------------------------------------------
# The field descriptions below are part of the prompt: they reach the model inside the JSON schema.

ModelText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class Claim(BaseModel):
    text: ModelText = Field(description="Утверждение о кандидате, одно предложение")
    evidence_quote: str | None = Field(
        default=None,
        max_length=1000,
        description="Дословная цитата из резюме, подтверждающая утверждение; null, если цитаты нет",
    )

    @field_validator("evidence_quote")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return value.strip()


class CriterionScore(BaseModel):
    score: int = Field(ge=0, le=100, description="Оценка от 0 до 100")
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = Field(
        description="Короткое обоснование оценки"
    )


class CriteriaScores(BaseModel):
    skills: CriterionScore = Field(description="Навыки против требований вакансии")
    experience: CriterionScore = Field(description="Опыт: объём, уровень задач, ответственность")
    domain: CriterionScore = Field(description="Знание предметной области вакансии")
    communication: CriterionScore = Field(description="Как ясно и структурно кандидат описывает свой опыт в резюме")


class InterviewQuestion(BaseModel):
    question: ModelText = Field(description="Вопрос для интервью")
    gap: ModelText = Field(description="Какой пробел или риск проверяет вопрос")


class AnalysisOutput(BaseModel):
    """What the model must return for one analysis."""

    summary: ModelText = Field(description="Краткое резюме оценки, 2–4 предложения")
    fit_score: int = Field(ge=0, le=100, description="Общее соответствие вакансии, целое от 0 до 100")
    criteria: CriteriaScores = Field(description="Оценки по критериям")
    strengths: list[Claim] = Field(max_length=15, description="Сильные стороны, каждая с цитатой из резюме")
    gaps: list[Claim] = Field(max_length=15, description="Пробелы относительно требований вакансии")
    risks: list[Claim] = Field(max_length=15, description="Риски, которые стоит проверить")
    interview_questions: list[InterviewQuestion] = Field(
        max_length=15, description="Вопросы для интервью, нацеленные на пробелы и риски"
    )
    recommendation: ModelText = Field(description="Совет рекрутеру о следующем шаге; решение принимает человек")


class AnalysisResult(AnalysisOutput):
    """The stored analysis document. `version` changes whenever its shape does."""

    version: Literal[1] = 1
    advisory: Literal[True] = True
    """The analysis is advice for a person; it never decides about a candidate on its own."""


class AnalysisCreate(InputModel):
    vacancy_id: VacancyRef = None
    """The vacancy to assess against; the candidate's own vacancy when omitted."""


class AnalysisPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    candidate_id: int
    vacancy_id: int | None
    version: int
    prompt_version: str
    result: AnalysisResult
    provider: str
    model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: int
    attempts: list[ProviderAttempt] | None
    dropped_quotes: int
    created_at: datetime


class AnalysisFailurePublic(BaseModel):
    detail: str
    attempts: list[ProviderAttempt]


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    display_name: str
    role: Literal["admin", "recruiter"]
    is_active: bool
    created_at: datetime


class UserCreate(InputModel):
    email: EmailStr
    display_name: NonBlankName
    role: Literal["admin", "recruiter"] = "recruiter"
    password: Annotated[str, Field(min_length=10, max_length=200)]


class UserUpdate(InputModel):
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


class ConsentCreate(InputModel):
    """A consent the candidate gave (on paper, by email, in a web form…), recorded by a recruiter."""

    scope: ConsentScope
    vacancy_id: VacancyRef = None
    text_version: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    channel: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    given_at: datetime | None = None


class ConsentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    candidate_id: int
    scope: ConsentScope
    vacancy_id: int | None
    text_version: str
    channel: str
    given_at: datetime
    recorded_by: str | None
    recorded_at: datetime
    withdrawn_at: datetime | None
    withdrawn_by: str | None


class PurgePublic(BaseModel):
    erased: list[int]
    """The candidates whose personal data was erased."""
    drafts_removed: int = 0
    """Unsaved resume drafts past the retention period, removed with their files."""


class UsagePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    day: date
    provider: str
    requests: int
    failures: int
    prompt_tokens: int
    completion_tokens: int


class TeamMemberPublic(BaseModel):
    """A colleague as every signed-in user may see them: for the recruiter filter and the owner field."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    display_name: str
    role: Literal["admin", "recruiter"]


# --- pipeline board ----------------------------------------------------------------------------------


class BoardCard(BaseModel):
    id: int
    full_name: str
    position: str | None
    stage: Stage
    vacancy_id: int | None
    vacancy_title: str | None
    source: str | None
    owner_id: int | None
    stage_since: datetime
    days_in_stage: int
    fit_score: int | None
    """From the latest AI analysis, if any."""
    rejection_reason: str | None


class BoardColumn(BaseModel):
    stage: Stage
    title: str
    count: int
    cards: list[BoardCard]


class BoardPublic(BaseModel):
    columns: list[BoardColumn]
    sources: list[str]
    """Every source in use, for the filter."""
    truncated: bool
    """More candidates matched than a board shows: narrow the filters."""


# --- reports -----------------------------------------------------------------------------------------


class FunnelStep(BaseModel):
    stage: Stage
    title: str
    reached: int
    """Candidates of the period that ever got to this stage or further."""
    conversion: float | None
    """Share of the previous step's candidates that got here (0..1); none for the first step."""


class StageDuration(BaseModel):
    stage: Stage
    title: str
    stays: int
    """Finished stays in the stage (the candidate moved on) that the average is taken over."""
    average_days: float | None


class SourceRow(BaseModel):
    source: str
    candidates: int
    in_progress: int
    hired: int
    rejected: int


class ReasonRow(BaseModel):
    reason: str
    count: int


class TimeToHire(BaseModel):
    hired: int
    average_days: float | None
    median_days: float | None


class ReportPublic(BaseModel):
    vacancy_id: int | None
    since: date | None
    until: date | None
    candidates: int
    funnel: list[FunnelStep]
    time_to_hire: TimeToHire
    time_in_stage: list[StageDuration]
    sources: list[SourceRow]
    rejection_reasons: list[ReasonRow]


# --- AI usage for administrators ---------------------------------------------------------------------


class QuotaPublic(BaseModel):
    day: date
    used: int
    limit: int
    """GIGACHAT_DAILY_LIMIT; 0 means no limit is set."""


class BalanceItem(BaseModel):
    usage: str
    """The model or package the balance is for, as GigaChat names it."""
    value: float


class BalancePublic(BaseModel):
    available: bool
    items: list[BalanceItem] = []
    detail: str | None = None
    """Why there is no balance (not a prepaid key, not configured, GigaChat unreachable)."""


class BreakerPublic(BaseModel):
    provider: str
    state: Literal["closed", "open", "half_open"]


class AIOverviewPublic(BaseModel):
    usage: list[UsagePublic]
    quota: QuotaPublic
    breakers: list[BreakerPublic]
    balance: BalancePublic


# --- resume intake -----------------------------------------------------------------------------------
# ResumeDraft's field descriptions are part of the prompt: they reach the model inside the JSON schema.

DraftText = Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=200)]


class WorkPlace(BaseModel):
    company: DraftText = Field(default=None, description="Компания")
    title: DraftText = Field(default=None, description="Должность")
    period: DraftText = Field(default=None, description="Период работы, как в резюме, например «2019–2023»")
    summary: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=1000)] = Field(
        default=None, description="Чем занимался, одно-два предложения"
    )


class EducationEntry(BaseModel):
    institution: DraftText = Field(default=None, description="Учебное заведение")
    degree: DraftText = Field(default=None, description="Специальность или степень")
    year: DraftText = Field(default=None, description="Год окончания")


class ResumeDraft(BaseModel):
    """What the model must return for one resume (contacts are found locally and never asked for)."""

    full_name: DraftText = Field(default=None, description="ФИО кандидата, как в резюме; null, если не указано")
    city: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=100)] = Field(
        default=None, description="Город; null, если не указан"
    )
    position: DraftText = Field(default=None, description="Желаемая должность; null, если не ясно")
    skills: list[Skill] = Field(default=[], max_length=50, description="Ключевые навыки и технологии")
    years_experience: int | None = Field(
        default=None, ge=0, le=70, description="Общий опыт работы в годах, целое число; null, если не ясно"
    )
    work_history: list[WorkPlace] = Field(default=[], max_length=30, description="Места работы, последние первыми")
    education: list[EducationEntry] = Field(default=[], max_length=10, description="Образование")
    languages: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]] = Field(
        default=[], max_length=10, description="Языки с уровнем, например «английский — B2»"
    )


class FoundContacts(BaseModel):
    emails: list[str] = []
    phones: list[str] = []
    """In international format, e.g. +7 900 123-45-67."""
    links: list[str] = []


class DuplicateRef(BaseModel):
    id: int
    full_name: str
    matched: list[Literal["email", "phone"]]


class IntakeJobPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    batch_id: int
    state: IntakeState
    error: str | None
    note: str | None
    filename: str
    text: str | None
    contacts: FoundContacts | None
    draft: ResumeDraft | None
    proposed: CandidateCreate | None = None
    """The draft as a card, ready to be corrected and saved (only for a job that is ready)."""
    duplicates: list[DuplicateRef] = []
    """Existing candidates with the same normalised email or phone: offered for merge."""
    provider: str | None
    model: str | None
    candidate_id: int | None
    worker: str | None
    """The process that parsed it (host:pid)."""
    tries: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class IntakeJobBrief(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    state: IntakeState
    filename: str
    error: str | None
    note: str | None
    candidate_id: int | None


class IntakeBatchPublic(BaseModel):
    id: int
    created_at: datetime
    total: int
    counts: dict[IntakeState, int]
    done: int
    """Jobs that need no more work from the queue: ready, saved or failed."""
    eta_seconds: float | None
    """Estimated seconds until every job is done; None until it can be estimated."""
    jobs: list[IntakeJobBrief]


class IntakeTextCreate(InputModel):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=20, max_length=200_000)]


class IntakeSave(InputModel):
    candidate: CandidateCreate
    """The card as the recruiter corrected it."""
    merge_into: int | None = Field(default=None, gt=0, le=DB_INT_MAX)
    """An existing candidate (one of the duplicates) to update with this resume instead of creating a new one."""


# --- shortlist ---------------------------------------------------------------------------------------


class ShortlistCreate(InputModel):
    top_n: int | None = Field(default=None, ge=1, le=20)
    """How many of the best-ranked candidates get a full AI analysis (SHORTLIST_TOP_N by default)."""


class ShortlistAnalysis(BaseModel):
    id: int
    fit_score: int
    summary: str
    recommendation: str


class ShortlistEntryPublic(BaseModel):
    rank: int
    candidate_id: int
    full_name: str
    position: str | None
    stage: Stage
    score: float
    """Similarity of the candidate's profile and the vacancy, 0–1."""
    matched_skills: list[str]
    missing_skills: list[str]
    analysis: ShortlistAnalysis | None


class ShortlistPublic(BaseModel):
    vacancy_id: int
    model: str | None
    """The embeddings model that ranked the pool (`local-stems-v1` is the local fallback)."""
    fallback_reason: str | None = None
    """Why GigaChat Embeddings were not used for this run, if they were not."""
    created_at: datetime | None
    entries: list[ShortlistEntryPublic]
