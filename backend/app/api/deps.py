"""`Annotated` dependency aliases, defined once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.ai.chain import ProviderChain
from app.ai.telemetry import Telemetry
from app.core.config import Settings
from app.core.db import close, commit
from app.core.errors import Forbidden, Gone, Unauthorized
from app.core.security import same, token_hash
from app.models import Candidate, User, UserRole
from app.schemas import DB_INT_MAX
from app.services import auth, candidates
from app.services.intake_queue import IntakeQueue
from app.services.shortlist import VectorCache
from app.services.turns import TurnLeases

SESSION_COOKIE = "nexus_session"
CSRF_COOKIE = "nexus_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request owns the transaction: commit when the handler returns, roll back if it raises."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    session = factory()
    try:
        yield session
        await commit(session)
    except BaseException:
        await session.rollback()
        raise
    finally:
        await close(session)


# The app-state lookups are `async def` on purpose: FastAPI runs a plain `def` dependency in its thread pool,
# a thread hop per dependency per request.
async def get_session_factory(request: Request) -> async_sessionmaker[AsyncSession]:
    return request.app.state.session_factory  # type: ignore[no-any-return]


async def get_chain(request: Request) -> ProviderChain:
    return request.app.state.chain  # type: ignore[no-any-return]


async def get_intake_queue(request: Request) -> IntakeQueue:
    return request.app.state.intake_queue  # type: ignore[no-any-return]


async def get_vector_cache(request: Request) -> VectorCache:
    return request.app.state.vector_cache  # type: ignore[no-any-return]


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class ChatServices:
    """What a chat turn uses of the app, built once by the lifespan and taken as one dependency: FastAPI resolves
    each dependency of a request on its own (about 20 µs apiece), and a turn would otherwise take five."""

    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    chain: ProviderChain
    telemetry: Telemetry
    leases: TurnLeases
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    """The streamed turns running detached from their responses (the lifespan waits for them at shutdown)."""


async def get_chat_services(request: Request) -> ChatServices:
    return request.app.state.chat_services  # type: ignore[no-any-return]


# scope="function": the commit happens before the response is sent, so a client that reads right after
# a write always sees it.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SessionFactoryDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_session_factory)]
ChainDep = Annotated[ProviderChain, Depends(get_chain)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ChatServicesDep = Annotated[ChatServices, Depends(get_chat_services)]
IntakeQueueDep = Annotated[IntakeQueue, Depends(get_intake_queue)]
VectorCacheDep = Annotated[VectorCache, Depends(get_vector_cache)]

CandidateID = Annotated[int, Path(description="Candidate id", gt=0, le=DB_INT_MAX)]


async def get_current_candidate(candidate_id: CandidateID, session: SessionDep) -> Candidate:
    candidate = await candidates.get_or_404(session, candidate_id)
    if candidate.erased_at is not None:
        raise Gone(candidates.ERASED)
    return candidate


CurrentCandidate = Annotated[Candidate, Depends(get_current_candidate)]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _unauthorized(detail: str) -> Unauthorized:
    return Unauthorized(detail, headers={"WWW-Authenticate": "Bearer"})


async def get_login(request: Request, session: SessionDep) -> auth.Login:
    """A bearer token (API clients) or the session cookie (the page); cookie writes must carry the CSRF token."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    via_cookie = False
    if scheme.lower() == "bearer" and credentials.strip():
        token = credentials.strip()
    elif request.cookies.get(SESSION_COOKIE):
        token, via_cookie = request.cookies[SESSION_COOKIE], True
    else:
        raise _unauthorized("Требуется вход в систему")
    settings: Settings = request.app.state.settings
    login = await auth.resolve(session, token, cache_seconds=settings.AUTH_CACHE_SECONDS)
    if login is None:
        raise _unauthorized("Сессия истекла или была завершена. Войдите снова.")
    if via_cookie and request.method not in SAFE_METHODS:
        csrf = request.headers.get(CSRF_HEADER, "")
        if not csrf or not same(token_hash(csrf), login.csrf_hash):
            raise Forbidden("Запрос отклонён (нет CSRF-токена). Обновите страницу.")
    return login


CurrentLogin = Annotated[auth.Login, Depends(get_login)]
"""Who asks, as plain values: for a route that needs no row of the user (a chat turn names its actor)."""


async def get_current_user(login: CurrentLogin, session: SessionDep) -> User:
    """The login's user as a row of the request's session, for a route that changes it or hands it on."""
    return auth.attach(session, login)[1]


CurrentUser = Annotated[User, Depends(get_current_user)]


async def require_admin(user: CurrentUser) -> User:
    if user.role != UserRole.ADMIN:
        raise Forbidden("Доступно только администратору")
    return user


AdminUser = Annotated[User, Depends(require_admin)]
