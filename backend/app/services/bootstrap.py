"""The first administrator: from FIRST_SUPERUSER / FIRST_SUPERUSER_PASSWORD, or generated once by `make run`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.models import UserRole
from app.services import users

DEFAULT_ADMIN_EMAIL = "admin@nexus.local"


@dataclass(frozen=True)
class FirstAdmin:
    email: str
    password: str | None
    """Set only when it was generated here and must be shown to the operator once."""


async def ensure_first_admin(session: AsyncSession, settings: Settings, *, generate: bool) -> FirstAdmin | None:
    """Create an admin when there are no users yet; return it, or None when users already exist."""
    if await users.count(session) > 0:
        return None
    email = settings.FIRST_SUPERUSER or DEFAULT_ADMIN_EMAIL
    if settings.FIRST_SUPERUSER_PASSWORD is not None:
        password, shown = settings.FIRST_SUPERUSER_PASSWORD.get_secret_value(), None
    elif generate:
        password = secrets.token_urlsafe(12)
        shown = password
    else:
        return None
    await users.create(session, email=email, display_name="Администратор", password=password, role=UserRole.ADMIN)
    return FirstAdmin(email=users.normalise_email(email), password=shown)
