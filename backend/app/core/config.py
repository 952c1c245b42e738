"""Settings: the only module that reads the environment (and `.env` at the repository root)."""

from __future__ import annotations

import base64
import binascii
import logging
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[3]
"""The checkout root when installed editable (as `make` does); `.env` and `data/` live there."""

DEFAULT_SQLITE_URL = f"sqlite+aiosqlite:///{REPO_ROOT / 'data' / 'nexus.db'}"
DEFAULT_FRONTEND_DIR = REPO_ROOT / "frontend"

logger = logging.getLogger(__name__)


class GigaChatScope(StrEnum):
    PERS = "GIGACHAT_API_PERS"
    B2B = "GIGACHAT_API_B2B"
    CORP = "GIGACHAT_API_CORP"


class ConfigError(ValueError):
    """A one-line, secret-free description of what is wrong with the configuration."""


def _check_http_url(name: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http(s) URL with a host")
    try:
        parts.port  # noqa: B018 — raises on a non-numeric port
    except ValueError as exc:
        raise ValueError(f"{name} has an invalid port") from exc
    return value.rstrip("/")


PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=(REPO_ROOT / ".env", ".env"),
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=True,
        validate_default=True,
    )

    ENVIRONMENT: Literal["development", "production", "test"] = "development"
    LOG_LEVEL: str = "INFO"

    DATABASE_URL: str = DEFAULT_SQLITE_URL
    DATABASE_ECHO: bool = False
    DATABASE_POOL_SIZE: PositiveInt = 20
    """Connections kept open per process; a turn holds one only while it reads or writes, never during the AI call,
    so more turns than connections are in flight and the rest wait their turn in the pool. Sized to the database
    server, not to the turns in flight: 200 turns at once through 40 + 10 connections on a 2-core PostgreSQL took
    1.57-1.87 s for a 1 s upstream, through 20 1.46-1.61 s; the extra backends only queued for the same row locks
    (the daily counter) and cores (bench/README.md). Four workers with the default stay within PostgreSQL's
    default 100 connections."""
    DATABASE_MAX_OVERFLOW: Annotated[int, Field(ge=0)] = 0
    """Extra connections under a burst, each opened and closed again when returned to a full pool: the pool's
    wait costs less than a PostgreSQL backend started for one statement."""
    DATABASE_POOL_TIMEOUT: PositiveFloat = 10.0
    """How long a request waits for a free connection before it is answered 503 «Сервер перегружен…» (a wait
    this long means the database or the pool, not one slow turn, is the problem)."""
    DATABASE_POOL_RECYCLE_SECONDS: PositiveInt = 1800
    """Connections older than this are replaced at checkout: no ping on every checkout."""

    FRONTEND_DIR: Path = DEFAULT_FRONTEND_DIR
    """The recruiter's pages (plain HTML, CSS and JS modules), served as they are: there is no build step."""

    # --- GigaChat (the guide's names first; the SDK's own names are accepted too) ---
    GIGACHAT_API_KEY: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("GIGACHAT_API_KEY", "GIGACHAT_CREDENTIALS")
    )
    GIGACHAT_SCOPE: GigaChatScope = GigaChatScope.PERS
    USE_GIGACHAT: bool = True
    GIGACHAT_MODEL: str = "GigaChat-2"
    GIGACHAT_BASE_URL: str = "https://gigachat.devices.sberbank.ru/api/v1"
    GIGACHAT_AUTH_URL: str = "https://ngw.devices.sberbank.ru:9443/api/v2/oauth"
    GIGACHAT_CA_BUNDLE_FILE: Path | None = None
    GIGACHAT_VERIFY_SSL_CERTS: bool = True
    GIGACHAT_TIMEOUT: PositiveFloat = 30.0
    GIGACHAT_MAX_CONCURRENCY: PositiveInt | None = None

    # --- OpenRouter ---
    OPENROUTER_API_KEY: SecretStr | None = None
    OPENROUTER_MODEL: str = "deepseek/deepseek-chat"
    OPENROUTER_BASE_URL: str = "https://openrouter.ai/api/v1"
    OPENROUTER_SITE_URL: str = "http://127.0.0.1:8000"
    OPENROUTER_APP_TITLE: str = "Nexus AI"
    OPENROUTER_MAX_CONCURRENCY: PositiveInt = 10

    # --- Provider chain: timeouts fit LLMs (seconds) ---
    LLM_CONNECT_TIMEOUT: PositiveFloat = 5.0
    LLM_FIRST_TOKEN_TIMEOUT: PositiveFloat = 30.0
    LLM_STREAM_IDLE_TIMEOUT: PositiveFloat = 15.0
    LLM_TOTAL_TIMEOUT: PositiveFloat = 180.0
    LLM_QUEUE_TIMEOUT: PositiveFloat = 10.0
    LLM_QUEUE_SIZE: Annotated[int, Field(ge=0)] = 20
    LLM_RETRY_AFTER_BUDGET: Annotated[float, Field(ge=0)] = 3.0
    LLM_BREAKER_FAILURES: PositiveInt = 3
    LLM_BREAKER_COOLDOWN: PositiveFloat = 30.0
    LLM_BREAKER_SHARE_SECONDS: Annotated[float, Field(ge=0, le=10)] = 1.0
    """A closed shared breaker is re-read at most this often per process (one query fewer per provider call),
    so a breaker opened through another instance is seen here within this bound. 0 = read on every call."""
    LLM_TEMPERATURE: Annotated[float, Field(gt=0, le=2)] = 0.7
    LLM_MAX_TOKENS: PositiveInt = 2000

    # --- Usage, quota and logs ---
    GIGACHAT_DAILY_LIMIT: Annotated[int, Field(ge=0)] = 1000
    """GigaChat requests per Moscow day; a warning at 80 %, skipped (OpenRouter answers) at 100 %. 0 = no limit."""
    LOG_FORMAT: Literal["text", "json"] = "text"

    # --- Accounts and access ---
    FIRST_SUPERUSER: str | None = None
    FIRST_SUPERUSER_PASSWORD: SecretStr | None = None
    SESSION_TTL_HOURS: PositiveFloat = 12.0
    AUTH_CACHE_SECONDS: Annotated[float, Field(ge=0, le=10)] = 2.0
    """A resolved login is reused for this long in each process, so a logout, revocation or deactivation made on
    another instance takes effect there within this bound (at once on the instance that made it). 0 = no cache."""
    COOKIE_SECURE: bool | None = None
    """None: Secure cookies exactly when the request came over HTTPS."""
    CORS_ORIGINS: Annotated[list[str], NoDecode] = []
    LOGIN_MAX_FAILURES_PER_ACCOUNT: PositiveInt = 5
    LOGIN_MAX_FAILURES_PER_ADDRESS: PositiveInt = 20
    LOGIN_FAILURE_WINDOW_MINUTES: PositiveInt = 15
    LOGIN_SLOWDOWN_SECONDS: Annotated[float, Field(ge=0, le=10)] = 1.0
    """Past LOGIN_MAX_FAILURES_PER_ACCOUNT failures from any address, each attempt on that account waits this long
    (doubling, at most 8x); only the address that failed is locked out, so a stranger cannot lock the owner out."""
    RETENTION_DAYS: PositiveInt = 30
    """Days to keep a rejected candidate without talent-pool consent, or anyone after consent is withdrawn."""
    FOREIGN_PROVIDERS: Annotated[list[str], NoDecode] = ["openrouter"]
    """Providers outside Russia: sending personal data to them is a cross-border transfer (152-FZ art. 12)."""

    # --- Chat ---
    CHAT_MAX_MESSAGE_CHARS: PositiveInt = 8000
    CHAT_HISTORY_MESSAGES: PositiveInt = 20
    CHAT_CONTEXT_CHARS: PositiveInt = 24000
    CHAT_RESUME_CHARS: PositiveInt = 8000

    # --- Files ---
    DATA_DIR: Path = REPO_ROOT / "data"
    RESUME_DIR: Path | None = None
    """Uploaded resume files; defaults to DATA_DIR/resumes."""
    RESUME_MAX_BYTES: PositiveInt = 10 * 1024 * 1024
    RESUME_MAX_UNPACKED_BYTES: PositiveInt = 40 * 1024 * 1024
    """The most a resume may unpack to: all parts of a DOCX together, or one decoded PDF stream."""
    RESUME_MAX_RATIO: PositiveInt = 100
    """The highest compression ratio of a DOCX part allowed (text compresses ~10x; a zip bomb ~1000x)."""
    RESUME_MAX_PAGES: PositiveInt = 200

    # --- Request bodies (enforced while the body streams in, before parsing and before the login check) ---
    REQUEST_MAX_JSON_BYTES: PositiveInt = 2 * 1024 * 1024
    """Any request except file uploads (JSON, forms); a 200 000-character resume text fits."""
    REQUEST_MAX_UPLOAD_OVERHEAD_BYTES: PositiveInt = 64 * 1024
    """Uploads may be RESUME_MAX_BYTES plus this much for the multipart framing."""

    # --- AI analysis ---
    LLM_STRUCTURED_TIMEOUT: PositiveFloat = 120.0
    """A structured (non-streamed) answer arrives all at once, so one provider gets this long in total."""
    ANALYSIS_TEMPERATURE: Annotated[float, Field(gt=0, le=2)] = 0.2
    ANALYSIS_MAX_TOKENS: PositiveInt = 4000
    ANALYSIS_RESUME_CHARS: PositiveInt = 20000

    # --- Turn engine: hedging, quick retry, shared limits, crash-safe turns (seconds) ---
    LLM_HEDGE_AFTER: Annotated[float, Field(ge=0)] = 5.0
    """No first token from a provider this long after the request was sent: the next provider (if it is not
    foreign) starts in parallel and the first to write wins. 0 = no hedging."""
    LLM_HEDGE_FOREIGN_AFTER: Annotated[float, Field(ge=0)] = 7.0
    """The same for a next provider in FOREIGN_PROVIDERS: a hedge there is a cross-border transfer, so it waits
    longer than a domestic one and can be switched off alone. 0 = no hedging abroad (only a real failure or
    LLM_FIRST_TOKEN_TIMEOUT sends a turn there)."""
    LLM_RETRY_DELAY: Annotated[float, Field(ge=0)] = 0.25
    """Base of the jittered pause (×0.5–1.5) before the one quick retry of a 500/502/503/504 or a reset
    connection that came before any text. 0 = no quick retry."""
    LLM_LEASE_SECONDS: PositiveFloat = 30.0
    """A provider slot's lease in the database; renewed while the call runs, freed when its holder dies."""
    REDIS_URL: SecretStr | None = None
    """redis://[:password@]host:6379/0 (or rediss://): the GigaChat/OpenRouter concurrency limits, their wait
    queues and the breakers live in Redis instead of the database. Unset: the database keeps them. While Redis
    is unreachable, the database takes over (with a warning in the log)."""
    REDIS_PREFIX: str = "nexus-ai"
    """Namespace of this deployment's keys in Redis (several deployments, or test runs, can share one Redis)."""
    REDIS_TIMEOUT: PositiveFloat = 1.0
    """Connect and read timeout of one Redis command: a dead Redis costs a turn at most this much, then the
    database-backed limiter answers for a few seconds before Redis is tried again."""
    TURN_LEASE_SECONDS: PositiveFloat = 20.0
    """A pending turn's lease; the process answering it renews it every third of this."""
    TURN_SWEEP_INTERVAL: PositiveFloat = 5.0
    """How often every instance fails pending turns whose lease has run out (their process died)."""
    SHUTDOWN_GRACE_SECONDS: PositiveInt = 30
    """On SIGTERM `nexus-ai serve` gives requests in flight this long to finish, then streamed replies still
    being written for disconnected clients as long again; what is left is cancelled and the process exits. A
    turn cut so keeps its stored question and is shown failed with «Повторить» once its lease runs out
    (`TURN_LEASE_SECONDS`), never lost. Without the first bound a blocking turn kept a stopping server up for
    as long as its provider took (up to `LLM_TOTAL_TIMEOUT`)."""

    # --- Tracing: OpenTelemetry's standard variables; off unless an exporter is configured ---
    OTEL_TRACES_EXPORTER: str | None = None
    """`otlp` (OTLP over HTTP), `console`, or `none`; unset with an OTLP endpoint set means `otlp`."""
    OTEL_EXPORTER_OTLP_ENDPOINT: str | None = None
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: str | None = None
    OTEL_SERVICE_NAME: str = "nexus-ai"

    @property
    def trace_exporters(self) -> list[str]:
        """Names of the span exporters to run; empty: tracing is off."""
        if self.OTEL_TRACES_EXPORTER is not None:
            names = [n.strip() for n in self.OTEL_TRACES_EXPORTER.split(",") if n.strip()]
            return [] if names == ["none"] else [n for n in names if n != "none"]
        if self.OTEL_EXPORTER_OTLP_ENDPOINT or self.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT:
            return ["otlp"]
        return []

    # --- Resume intake ---
    # REDIS_URL (above) also carries intake: when set, jobs go through a Redis stream and are run by
    # `nexus-ai worker` processes; otherwise inside the app process.
    INTAKE_QUEUE_NAME: str = "nexus-intake"
    INTAKE_CONCURRENCY: PositiveInt = 1
    """Resumes parsed at once per process: kept low so a recruiter's chat gets the provider's slots first."""
    INTAKE_MAX_FILES: PositiveInt = 200
    INTAKE_LEASE_SECONDS: PositiveFloat = 300.0
    """A job whose worker died is taken again after this long."""

    # --- Shortlist ---
    GIGACHAT_EMBEDDINGS_MODEL: str = "Embeddings"
    SHORTLIST_TOP_N: PositiveInt = 5
    """Candidates of the ranked pool that also get a full AI analysis."""
    SHORTLIST_PROFILE_CHARS: PositiveInt = 1500
    """Characters of a profile that are embedded (GigaChat's `Embeddings` model reads up to 512 tokens)."""

    @field_validator("GIGACHAT_API_KEY", mode="after")
    @classmethod
    def _check_gigachat_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value().strip()
        if not raw:
            return None
        # The guide's rule: a real key is at least 20 characters; it must also be base64 of `id:secret`.
        if len(raw) < 20:
            raise ValueError("is shorter than 20 characters")
        try:
            decoded = base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise ValueError("is not base64 of 'client_id:client_secret'") from None
        client_id, sep, secret = decoded.partition(":")
        if not sep or not client_id or not secret:
            raise ValueError("is not base64 of 'client_id:client_secret'")
        return SecretStr(raw)

    @field_validator("CORS_ORIGINS", "FOREIGN_PROVIDERS", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("OPENROUTER_API_KEY", mode="after")
    @classmethod
    def _blank_key_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(value.get_secret_value().strip())

    @field_validator("REDIS_URL", mode="after")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        url = value.get_secret_value().strip()
        if not url.startswith(("redis://", "rediss://", "unix://")):
            # The value itself may hold a password: it is not repeated in the error.
            raise ValueError("must start with redis://, rediss:// or unix://")
        return SecretStr(url)

    @field_validator("GIGACHAT_BASE_URL", "GIGACHAT_AUTH_URL", "OPENROUTER_BASE_URL", "OPENROUTER_SITE_URL")
    @classmethod
    def _check_urls(cls, value: str) -> str:
        checked = _check_http_url("URL", value)
        if checked is None:
            raise ValueError("must not be empty")
        return checked

    @field_validator("DATABASE_URL")
    @classmethod
    def _normalise_db_url(cls, value: str) -> str:
        if value.startswith(("postgres://", "postgresql://")):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value[len("sqlite:///") :]
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must be sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db")
        return value

    @field_validator("GIGACHAT_CA_BUNDLE_FILE")
    @classmethod
    def _ca_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("does not point to a readable file")
        return value

    @model_validator(mode="after")
    def _defaults_from_scope(self) -> Settings:
        if self.GIGACHAT_MAX_CONCURRENCY is None:
            # A personal key allows one request at a time; companies get 10 by default.
            self.GIGACHAT_MAX_CONCURRENCY = 1 if self.GIGACHAT_SCOPE is GigaChatScope.PERS else 10
        if self.RESUME_DIR is None:
            self.RESUME_DIR = self.DATA_DIR / "resumes"
        return self

    @property
    def resume_dir(self) -> Path:
        assert self.RESUME_DIR is not None  # filled in by the validator above
        return self.RESUME_DIR

    @property
    def gigachat_configured(self) -> bool:
        return self.USE_GIGACHAT and self.GIGACHAT_API_KEY is not None

    @property
    def openrouter_configured(self) -> bool:
        return self.OPENROUTER_API_KEY is not None

    @property
    def is_sqlite(self) -> bool:
        return self.DATABASE_URL.startswith("sqlite")


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem naming the variable, never its value."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        name = str(err["loc"][0]) if err["loc"] else "settings"
        message = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{name}: {message}")
    return "; ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into a secret-free `ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"Invalid configuration: {describe_validation_error(exc)}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


class _LazySettings:
    """`from app.core.config import settings` as in the guide, without reading the environment at import time."""

    def __getattr__(self, name: str) -> Any:
        return getattr(get_settings(), name)


settings: Settings = _LazySettings()  # type: ignore[assignment]
