"""Logins: opaque tokens (bearer or HttpOnly cookie) stored as hashes, so any session can be revoked.

A resolved login is cached in the process for `AUTH_CACHE_SECONDS` (see `SessionCache`): revoking or deactivating
drops the cached entries of this process at once, and every other instance stops accepting the token when its entry
expires, so the bound across instances is `AUTH_CACHE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, event, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, make_transient_to_detached

from app.core.config import Settings
from app.core.security import new_token, token_hash, verify_password
from app.models import AuditEvent, AuthSession, User, utcnow
from app.services import audit, users

LOGIN_FAILED = "auth.login_failed"
LOGGED_IN = "auth.login"
UNLOCKED = "auth.unlock"


@dataclass(frozen=True)
class IssuedSession:
    token: str
    csrf_token: str
    session: AuthSession


class TooManyAttempts(Exception):
    def __init__(self, minutes: int) -> None:
        self.minutes = minutes


async def _failures(session: AsyncSession, *, since: datetime, email: str | None, ip: str | None) -> int:
    stmt = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == LOGIN_FAILED, AuditEvent.at >= since)
    if email is not None:
        stmt = stmt.where(AuditEvent.actor_email == email)
    if ip is not None:
        stmt = stmt.where(AuditEvent.ip == ip)
    return int(await session.scalar(stmt) or 0)


async def _last(session: AsyncSession, action: str, **where: Any) -> datetime | None:
    stmt = select(func.max(AuditEvent.at)).where(AuditEvent.action == action)
    for column, value in where.items():
        stmt = stmt.where(getattr(AuditEvent, column) == value)
    return await session.scalar(stmt)


async def check_rate_limit(session: AsyncSession, settings: Settings, email: str, ip: str | None) -> float:
    """Raise `TooManyAttempts` for an address that failed too often; return how long to slow this attempt down.

    Failed logins are audit events. Only the address that failed is locked out: of this account after
    LOGIN_MAX_FAILURES_PER_ACCOUNT failures on it, of every account after LOGIN_MAX_FAILURES_PER_ADDRESS. A
    stranger guessing from elsewhere cannot lock the owner out; past the per-account count, every attempt on
    the account is slowed down instead. An administrator's unlock, or the address's own successful login,
    starts the count afresh.
    """
    email = users.normalise_email(email)
    window = utcnow() - timedelta(minutes=settings.LOGIN_FAILURE_WINDOW_MINUTES)
    user = await users.by_email(session, email)
    unlocked = await _last(session, UNLOCKED, entity_type="user", entity_id=user.id) if user else None
    since = max(window, unlocked) if unlocked else window
    if ip:
        succeeded = await _last(session, LOGGED_IN, actor_email=email, ip=ip)
        pair_since = max(since, succeeded) if succeeded else since
        if await _failures(session, since=pair_since, email=email, ip=ip) >= settings.LOGIN_MAX_FAILURES_PER_ACCOUNT:
            raise TooManyAttempts(settings.LOGIN_FAILURE_WINDOW_MINUTES)
        if await _failures(session, since=window, email=None, ip=ip) >= settings.LOGIN_MAX_FAILURES_PER_ADDRESS:
            raise TooManyAttempts(settings.LOGIN_FAILURE_WINDOW_MINUTES)
    excess = await _failures(session, since=since, email=email, ip=None) - settings.LOGIN_MAX_FAILURES_PER_ACCOUNT
    if excess < 0:
        return 0.0
    return float(settings.LOGIN_SLOWDOWN_SECONDS * 2 ** min(excess, 3))


async def unlock(session: AsyncSession, user: User, admin: User, ip: str | None) -> None:
    """Forget the account's failed logins so far: every address may try again at once, without slow-down."""
    await audit.record(session, UNLOCKED, actor=admin, entity_type="user", entity_id=user.id, ip=ip)


async def authenticate(session: AsyncSession, email: str, password: str) -> User | None:
    user = await users.by_email(session, email)
    if not verify_password(password, user.password_hash if user else None):
        return None
    if user is None or not user.is_active:
        return None
    return user


async def record_failure(session: AsyncSession, email: str, ip: str | None) -> None:
    await audit.record(session, LOGIN_FAILED, actor_email=users.normalise_email(email)[:254], ip=ip)


async def issue(session: AsyncSession, settings: Settings, user: User) -> IssuedSession:
    token, csrf = new_token(), new_token()
    row = AuthSession(
        token_hash=token_hash(token),
        csrf_hash=token_hash(csrf),
        user_id=user.id,
        expires_at=utcnow() + timedelta(hours=settings.SESSION_TTL_HOURS),
    )
    session.add(row)
    await session.flush()
    return IssuedSession(token, csrf, row)


_Row = TypeVar("_Row", AuthSession, User)


def _snapshot(row: _Row) -> _Row:
    """A detached copy of the loaded columns, owned by no session (so no request can change or expire it)."""
    copy = type(row)(**{column.key: getattr(row, column.key) for column in type(row).__table__.columns})
    make_transient_to_detached(copy)
    return copy


@dataclass(frozen=True, slots=True)
class Login:
    """A resolved login as the values most requests need: who asks, and the hash a cookie write's CSRF token is
    checked against. `attach` gives its rows as the request's own, for a request that changes them or hands the
    user to a service; a request that only needs who asks (a chat turn) skips that (two merges per request)."""

    session_id: int
    user_id: int
    email: str
    role: str
    csrf_hash: str
    expires_at: datetime
    rows: tuple[AuthSession, User]
    """The cache's detached copies, shared by every request of the login, or the rows this request loaded: read
    through `attach`, never changed here."""

    @property
    def actor(self) -> tuple[int, str]:
        """(id, email) of the user, as audit records name who did what."""
        return self.user_id, self.email


def _login(row: AuthSession, user: User) -> Login:
    return Login(row.id, user.id, user.email, user.role, row.csrf_hash, row.expires_at, (row, user))


@dataclass(frozen=True, slots=True)
class _Entry:
    login: Login
    until: float


class SessionCache:
    """Resolved logins of one instance (one engine), by token hash, each kept for at most `seconds`."""

    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._reads: dict[str, asyncio.Event] = {}
        """The logins being read from the database now, each set when its read ends (cached or not)."""
        self.generation = 0
        """Counts the forgets: a lookup that read the database before one may not cache what it read (a request
        resolving a login while an admin revokes it would otherwise cache the login as it was)."""

    def get(self, digest: str) -> _Entry | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry.until <= time.monotonic() or entry.login.expires_at <= utcnow():
            self._entries.pop(digest, None)
            return None
        return entry

    def put(self, digest: str, row: AuthSession, user: User, seconds: float, generation: int) -> None:
        if generation != self.generation:
            return
        if len(self._entries) >= self.MAX_ENTRIES:
            now = time.monotonic()
            self._entries = {k: e for k, e in self._entries.items() if e.until > now}
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
        self._entries[digest] = _Entry(_login(_snapshot(row), _snapshot(user)), time.monotonic() + seconds)

    def reading(self, digest: str) -> asyncio.Event | None:
        """Set when the read of this login that another request is making ends; None if none is under way."""
        return self._reads.get(digest)

    def begin_read(self, digest: str) -> asyncio.Event:
        self._reads[digest] = read = asyncio.Event()
        return read

    def end_read(self, digest: str, read: asyncio.Event) -> None:
        if self._reads.get(digest) is read:
            del self._reads[digest]
        read.set()

    def forget_token(self, digest: str) -> None:
        self.generation += 1
        self._entries.pop(digest, None)

    def forget_user(self, user_id: int) -> None:
        self.generation += 1
        self._entries = {k: e for k, e in self._entries.items() if e.login.user_id != user_id}


_caches: weakref.WeakKeyDictionary[Engine, SessionCache] = weakref.WeakKeyDictionary()


def cache_of(session: AsyncSession) -> SessionCache:
    """The cache of the instance (engine) this session belongs to."""
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    cache = _caches.get(engine)
    if cache is None:
        cache = _caches[engine] = SessionCache()
    return cache


def _forget_now_and_after_commit(session: AsyncSession, forget: Any) -> None:
    # Now, and again once the revocation is committed: a request resolving the token in between would
    # otherwise cache the row as it was before the commit.
    forget()

    def after_commit(_session: Session) -> None:
        forget()

    event.listen(session.sync_session, "after_commit", after_commit, once=True)


async def resolve(session: AsyncSession, token: str, *, cache_seconds: float = 0.0) -> Login | None:
    """The login, or None if the token is unknown, revoked, expired or the user is deactivated.

    With the cache, a login is read from the database by one request at a time: the others of the same login
    that miss meanwhile (a page's parallel requests, a bulk run when the entry expires) wait for that read and
    take what it cached, instead of each checking out a connection to read the same two rows. A waiter whose
    read cached nothing (an invalid token, a revocation during the read, an error) reads for itself."""
    digest = token_hash(token)
    if cache_seconds <= 0:
        return await _read_login(session, digest)
    cache = cache_of(session)
    entry = cache.get(digest)
    if entry is None and (read := cache.reading(digest)) is not None:
        await read.wait()
        entry = cache.get(digest)
    if entry is not None:
        return entry.login
    generation = cache.generation
    read = cache.begin_read(digest)
    try:
        found = await _read_login(session, digest)
        if found is not None:
            cache.put(digest, *found.rows, cache_seconds, generation)
        return found
    finally:
        cache.end_read(digest, read)


def attach(session: AsyncSession, login: Login) -> tuple[AuthSession, User]:
    """The login's rows in this session, so the request can use (and change) them like loaded rows, without a
    query: a merge with load=False sends nothing to the database, so the sync session's runs without the
    greenlet hop (rows this request loaded itself are already there)."""
    sync = session.sync_session
    row, user = login.rows
    return sync.merge(row, load=False), sync.merge(user, load=False)


async def _read_login(session: AsyncSession, digest: str) -> Login | None:
    row = await session.scalar(select(AuthSession).where(AuthSession.token_hash == digest))
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return _login(row, user)


async def logout(session: AsyncSession, login: Login, ip: str | None) -> None:
    """End this login: the token stops working everywhere at once (this instance's cache forgets it)."""
    row, user = attach(session, login)
    await revoke(session, row)
    await audit.record(session, "auth.logout", actor=user, ip=ip)


async def revoke(session: AsyncSession, row: AuthSession) -> None:
    row.revoked_at = utcnow()
    await session.flush()
    cache = cache_of(session)
    _forget_now_and_after_commit(session, lambda: cache.forget_token(row.token_hash))


async def revoke_all(session: AsyncSession, user: User) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    forget_user(session, user.id)


def forget_user(session: AsyncSession, user_id: int) -> None:
    """After a change to the account (role, activity, password): this instance re-reads it on the next request."""
    cache = cache_of(session)
    _forget_now_and_after_commit(session, lambda: cache.forget_user(user_id))
