"""Admin-only user management."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from sqlalchemy import select

from app.api.deps import AdminUser, SessionDep, client_ip
from app.api.responses import errors
from app.core.errors import Conflict, NotFound
from app.models import User, UserRole
from app.schemas import DB_INT_MAX, TeamMemberPublic, UserCreate, UserPublic, UserUpdate
from app.services import audit, auth, users

router = APIRouter(prefix="/users", tags=["users"])
team_router = APIRouter(prefix="/team", tags=["users"])


@team_router.get("/", response_model=list[TeamMemberPublic])
async def list_team(session: SessionDep) -> list[User]:
    """Active colleagues' names, for every signed-in user: the recruiter filter and the owner field."""
    return await users.active(session)


@router.get("/", response_model=list[UserPublic])
async def list_users(session: SessionDep) -> Sequence[User]:
    return (await session.scalars(select(User).order_by(User.id))).all()


@router.post("/", response_model=UserPublic, status_code=status.HTTP_201_CREATED, responses=errors(409))
async def create_user(data: UserCreate, admin: AdminUser, session: SessionDep, request: Request) -> User:
    user = await users.create(
        session, email=data.email, display_name=data.display_name, password=data.password, role=UserRole(data.role)
    )
    await audit.record(
        session, "user.create", actor=admin, entity_type="user", entity_id=user.id, ip=client_ip(request)
    )
    return user


@router.patch("/{user_id}", response_model=UserPublic, responses=errors(404, 409))
async def update_user(
    user_id: Annotated[int, Path(gt=0, le=DB_INT_MAX)],
    data: UserUpdate,
    admin: AdminUser,
    session: SessionDep,
    request: Request,
) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("Пользователь не найден")
    changes = data.model_dump(exclude_unset=True)
    if user.id == admin.id and (changes.get("role") == "recruiter" or changes.get("is_active") is False):
        raise Conflict("Нельзя лишить прав или отключить самого себя")
    if "password" in changes and changes["password"] is not None:
        await users.set_password(session, user, changes.pop("password"))
        await auth.revoke_all(session, user)
    for key, value in changes.items():
        if value is not None:
            setattr(user, key, value)
    auth.forget_user(session, user.id)  # a new role or activity applies to this instance's next request
    if changes.get("is_active") is False:
        await auth.revoke_all(session, user)
    await session.flush()
    await audit.record(
        session,
        "user.update",
        actor=admin,
        entity_type="user",
        entity_id=user.id,
        ip=client_ip(request),
        details={"fields": sorted(data.model_dump(exclude_unset=True))},
    )
    return user


@router.post("/{user_id}/unlock", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
async def unlock_user(
    user_id: Annotated[int, Path(gt=0, le=DB_INT_MAX)], admin: AdminUser, session: SessionDep, request: Request
) -> Response:
    """Lift the login lock-out and slow-down of an account (its failed logins so far stop counting)."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("Пользователь не найден")
    await auth.unlock(session, user, admin, client_ip(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
