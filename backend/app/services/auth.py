"""Logins: opaque tokens (bearer or HttpOnly cookie) stored as hashes, so any session can be revoked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

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


async def resolve(session: AsyncSession, token: str) -> tuple[AuthSession, User] | None:
    row = await session.scalar(select(AuthSession).where(AuthSession.token_hash == token_hash(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return row, user


async def revoke(session: AsyncSession, row: AuthSession) -> None:
    row.revoked_at = utcnow()
    await session.flush()


async def revoke_all(session: AsyncSession, user: User) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
