"""Login (OAuth2 password form → bearer token + HttpOnly session cookie), logout, and who am I."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm

from app.api.deps import CSRF_COOKIE, SESSION_COOKIE, CurrentLogin, CurrentUser, SessionDep, SettingsDep, client_ip
from app.api.responses import errors
from app.core.errors import Unprocessable
from app.models import User
from app.schemas import LoginPublic, UserPublic
from app.services import audit, auth

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=LoginPublic, responses=errors(401, 429))
async def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Log in with `username` (email) and `password`; the token works as `Authorization: Bearer` and as a cookie."""
    ip = client_ip(request)
    if "\x00" in form.username or "\x00" in form.password:
        raise Unprocessable("Email и пароль не могут содержать нулевой символ (U+0000)")
    try:
        delay = await auth.check_rate_limit(session, settings, form.username, ip)
    except auth.TooManyAttempts as exc:
        return JSONResponse(
            {"detail": f"Слишком много неудачных попыток входа. Попробуйте через {exc.minutes} минут."},
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(exc.minutes * 60)},
        )
    if delay:
        await asyncio.sleep(delay)  # many failures on this account from elsewhere: slow down, never lock out
    user = await auth.authenticate(session, form.username, form.password)
    if user is None:
        # Returned, not raised: the failure must be committed to count against the rate limit.
        await auth.record_failure(session, form.username, ip)
        return JSONResponse(
            {"detail": "Неверный email или пароль"},
            status_code=status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": "Bearer"},
        )
    issued = await auth.issue(session, settings, user)
    await audit.record(session, auth.LOGGED_IN, actor=user, ip=ip)
    body = LoginPublic(
        access_token=issued.token,
        csrf_token=issued.csrf_token,
        expires_at=issued.session.expires_at,
        user=UserPublic.model_validate(user),
    )
    response = JSONResponse(body.model_dump(mode="json"))
    secure = settings.COOKIE_SECURE if settings.COOKIE_SECURE is not None else request.url.scheme == "https"
    max_age = int(settings.SESSION_TTL_HOURS * 3600)
    response.set_cookie(
        SESSION_COOKIE, issued.token, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/"
    )
    # Readable by the page's script, which echoes it in X-CSRF-Token; another site can neither read nor send it.
    response.set_cookie(CSRF_COOKIE, issued.csrf_token, max_age=max_age, samesite="strict", secure=secure, path="/")
    return response


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 403))
async def logout(request: Request, login: CurrentLogin, session: SessionDep) -> Response:
    """End this login: the token stops working everywhere at once."""
    await auth.logout(session, login, client_ip(request))
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/me", response_model=UserPublic, responses=errors(401))
async def me(user: CurrentUser) -> User:
    return user
