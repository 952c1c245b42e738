"""User accounts."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict
from app.core.security import hash_password
from app.models import User, UserRole

MIN_PASSWORD_LENGTH = 10


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"Пароль должен быть не короче {MIN_PASSWORD_LENGTH} символов")


async def by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == normalise_email(email)))


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def create(
    session: AsyncSession, *, email: str, display_name: str, password: str, role: UserRole = UserRole.RECRUITER
) -> User:
    check_password_strength(password)
    if await by_email(session, email) is not None:
        raise Conflict("Пользователь с таким email уже есть")
    user = User(
        email=normalise_email(email),
        display_name=display_name.strip(),
        role=role.value,
        password_hash=hash_password(password),
    )
    session.add(user)
    await session.flush()
    return user


async def set_password(session: AsyncSession, user: User, password: str) -> None:
    check_password_strength(password)
    user.password_hash = hash_password(password)
    await session.flush()


async def active(session: AsyncSession) -> list[User]:
    rows = await session.scalars(select(User).where(User.is_active.is_(True)).order_by(User.display_name, User.id))
    return list(rows)
