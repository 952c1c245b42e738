"""Nobody reaches candidate data without logging in; admins only where it matters; tokens can be revoked."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time

import httpx
import pytest
from sqlalchemy import event, text

from tests.utils.app import ADMIN_EMAIL, ADMIN_PASSWORD, REPO_ROOT, Database, RunningApp, StartApp, create_candidate

pytestmark = pytest.mark.usefixtures("database")

PUBLIC_API = {("POST", "/api/auth/login")}
ADMIN_ONLY = ("/api/users", "/api/audit", "/api/privacy")


def api_routes(api: RunningApp) -> list[tuple[str, str]]:
    """Every operation the app publishes under /api, from its own OpenAPI schema."""
    paths = api.app.openapi()["paths"]
    return sorted((method.upper(), path) for path, ops in paths.items() if path.startswith("/api/") for method in ops)


def fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def test_every_api_route_but_login_needs_a_login(api: RunningApp) -> None:
    routes = api_routes(api)
    assert len(routes) >= 12
    for method, path in routes:
        if (method, path) in PUBLIC_API:
            continue
        response = await api.anon.request(method, fill(path), json={})
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.json()["detail"] == "Требуется вход в систему"
        assert response.headers["www-authenticate"] == "Bearer"
    assert (await api.anon.get("/health")).status_code == 200
    assert (await api.anon.get("/ready")).status_code == 200


async def test_recruiter_gets_403_on_admin_routes(api: RunningApp) -> None:
    recruiter = await api.recruiter()
    admin_routes = [(m, p) for m, p in api_routes(api) if p.startswith(ADMIN_ONLY)]
    assert admin_routes
    for method, path in admin_routes:
        response = await recruiter.request(method, fill(path), json={})
        assert response.status_code == 403, (method, path)
        assert response.json()["detail"] == "Доступно только администратору"
    assert (await recruiter.get("/api/candidates/")).status_code == 200
    assert (await api.client.get("/api/users/")).status_code == 200


async def test_login_by_form_gives_a_bearer_token_and_a_cookie(api: RunningApp) -> None:
    form = {"username": ADMIN_EMAIL.upper(), "password": ADMIN_PASSWORD}
    response = await api.anon.post("/api/auth/login", data=form)

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["user"]["email"] == ADMIN_EMAIL
    cookie = response.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookie if c.startswith("nexus_session="))
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
    assert body["access_token"] not in next(c for c in cookie if c.startswith("nexus_csrf="))

    bearer = api.new_client(headers={"Authorization": f"Bearer {body['access_token']}"})
    assert (await bearer.get("/api/auth/me")).json()["email"] == ADMIN_EMAIL


async def test_wrong_password_is_a_401_in_russian(api: RunningApp) -> None:
    response = await api.anon.post("/api/auth/login", data={"username": ADMIN_EMAIL, "password": "wrong password"})
    assert response.status_code == 401
    assert response.json()["detail"] == "Неверный email или пароль"


async def test_cookie_session_needs_the_csrf_token_for_writes(api: RunningApp) -> None:
    page = api.new_client()
    login = await page.post("/api/auth/login", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    csrf = login.json()["csrf_token"]

    assert (await page.get("/api/candidates/")).status_code == 200
    forged = await page.post("/api/candidates/", json={"full_name": "Подделка"})
    assert forged.status_code == 403 and "CSRF" in forged.json()["detail"]
    wrong = await page.post("/api/candidates/", json={"full_name": "Подделка"}, headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    ok = await page.post("/api/candidates/", json={"full_name": "Настоящий"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    assert (await api.client.get("/api/candidates/")).json()["count"] == 1


async def test_logout_revokes_the_token_everywhere(api: RunningApp) -> None:
    client = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert (await client.get("/api/candidates/")).status_code == 200

    assert (await client.post("/api/auth/logout")).status_code == 204

    response = await client.get("/api/candidates/")
    assert response.status_code == 401
    assert "Войдите снова" in response.json()["detail"]


async def test_deactivated_user_is_locked_out(api: RunningApp) -> None:
    recruiter = await api.recruiter("leaver@example.com")
    users = (await api.client.get("/api/users/")).json()
    leaver = next(u for u in users if u["email"] == "leaver@example.com")

    await api.client.patch(f"/api/users/{leaver['id']}", json={"is_active": False})

    assert (await recruiter.get("/api/candidates/")).status_code == 401
    again = await api.anon.post("/api/auth/login", data={"username": "leaver@example.com", "password": ADMIN_PASSWORD})
    assert again.status_code == 401


async def _refused_within(client: httpx.AsyncClient, bound: float) -> None:
    """Poll until `client` is refused (401); fails if a request sent more than `bound` seconds from now is still
    accepted. Judged by when each request was sent, so a slow answer on a busy machine does not count."""
    started = time.monotonic()
    while True:
        sent = time.monotonic() - started
        response = await client.get("/api/candidates/")
        if response.status_code != 200:
            break
        assert sent <= bound, f"the other instance still accepts the revoked login {sent:.2f} s later"
        await asyncio.sleep(0.05)
    assert response.status_code == 401


@pytest.mark.parametrize("how", ["logout", "deactivate"])
async def test_revocation_reaches_every_instance_within_the_cache_bound(start_app: StartApp, how: str) -> None:
    """Logins are cached per process for AUTH_CACHE_SECONDS; a logout or deactivation made on one instance stops
    the token there at once and on every other instance within that bound."""
    bound = 1.0
    first, second = await start_app(AUTH_CACHE_SECONDS=bound), await start_app(AUTH_CACHE_SECONDS=bound)
    await first.create_user("both@example.com", ADMIN_PASSWORD)
    on_first = await first.login("both@example.com", ADMIN_PASSWORD)
    on_second = second.new_client(headers={"Authorization": on_first.headers["Authorization"]})
    assert (await on_second.get("/api/candidates/")).status_code == 200  # the second instance has it cached now
    assert (await on_first.get("/api/candidates/")).status_code == 200

    if how == "logout":
        assert (await on_first.post("/api/auth/logout")).status_code == 204
    else:
        people = (await first.client.get("/api/users/")).json()
        user_id = next(u["id"] for u in people if u["email"] == "both@example.com")
        assert (await first.client.patch(f"/api/users/{user_id}", json={"is_active": False})).status_code == 200

    assert (await on_first.get("/api/candidates/")).status_code == 401  # at once where it happened
    await _refused_within(on_second, bound + 1.0)  # the bound, plus scheduling slack on a busy machine
    assert (await on_second.get("/api/candidates/")).status_code == 401


async def test_parallel_requests_of_a_new_login_read_it_from_the_database_once(start_app: StartApp) -> None:
    """A page opens with several requests at once, and a bulk run sends many: while one of them reads the login
    from the database the others wait for it, instead of each taking a pooled connection for the same rows."""
    api = await start_app(AUTH_CACHE_SECONDS=5)
    await api.create_user("many@example.com", ADMIN_PASSWORD)
    client = await api.login("many@example.com", ADMIN_PASSWORD)
    lookups: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "FROM auth_sessions" in statement and "token_hash" in statement:
            lookups.append(statement)

    engine = api.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        answers = await asyncio.gather(*(client.get("/api/auth/me") for _ in range(20)))
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    assert [a.status_code for a in answers] == [200] * 20
    assert {a.json()["email"] for a in answers} == {"many@example.com"}
    assert len(lookups) == 1


async def test_login_attempts_are_rate_limited_per_account(start_app: StartApp) -> None:
    api = await start_app(LOGIN_MAX_FAILURES_PER_ACCOUNT=3)
    for _ in range(3):
        response = await api.anon.post("/api/auth/login", data={"username": ADMIN_EMAIL, "password": "guess"})
        assert response.status_code == 401

    blocked = await api.anon.post("/api/auth/login", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})

    assert blocked.status_code == 429
    assert "Слишком много неудачных попыток" in blocked.json()["detail"]
    assert int(blocked.headers["retry-after"]) > 0


async def test_login_attempts_are_rate_limited_per_address(start_app: StartApp) -> None:
    api = await start_app(LOGIN_MAX_FAILURES_PER_ADDRESS=3)
    for i in range(3):
        await api.anon.post("/api/auth/login", data={"username": f"nobody{i}@example.com", "password": "guess"})

    blocked = await api.anon.post("/api/auth/login", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})

    assert blocked.status_code == 429


async def test_security_headers_and_closed_cors(api: RunningApp) -> None:
    response = await api.client.get("/api/candidates/", headers={"Origin": "https://evil.example"})
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "access-control-allow-origin" not in response.headers

    preflight = await api.anon.options(
        "/api/candidates/",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_cors_opens_only_for_listed_origins(start_app: StartApp) -> None:
    api = await start_app(CORS_ORIGINS=["https://hr.example.ru"])
    allowed = await api.anon.options(
        "/api/candidates/", headers={"Origin": "https://hr.example.ru", "Access-Control-Request-Method": "GET"}
    )
    assert allowed.headers["access-control-allow-origin"] == "https://hr.example.ru"
    other = await api.anon.options(
        "/api/candidates/", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert other.headers.get("access-control-allow-origin") != "https://evil.example"


async def test_audit_log_records_who_did_what(api: RunningApp) -> None:
    recruiter = await api.recruiter()
    candidate = (await recruiter.post("/api/candidates/", json={"full_name": "Анна Козлова"})).json()
    await recruiter.get(f"/api/candidates/{candidate['id']}")
    await recruiter.patch(f"/api/candidates/{candidate['id']}", json={"position": "QA"})
    await recruiter.post("/api/chat/", json={"candidate_id": candidate["id"], "role": "user", "content": "Оцени"})

    log = (await api.client.get("/api/audit/", params={"entity_id": candidate["id"]})).json()
    actions = [e["action"] for e in reversed(log["data"])]
    assert actions == ["candidate.create", "candidate.view", "candidate.update", "ai.chat"]
    assert {e["actor_email"] for e in log["data"]} == {"recruiter@example.com"}
    ai_run = log["data"][0]
    assert ai_run["details"]["provider"] == "gigachat" and ai_run["details"]["model"] == "GigaChat-2:2.0.28.2"
    assert log["data"][1]["details"] == {"fields": ["position"]}
    assert "Анна" not in str(log)

    logins = (await api.client.get("/api/audit/", params={"action": "auth.login"})).json()
    assert logins["count"] >= 1


async def test_markup_and_sql_in_messages_come_back_verbatim(api: RunningApp) -> None:
    candidate = await create_candidate(api.client, full_name="O'Brien <b>bold</b>")
    payload = "<script>alert('x')</script> '; DELETE FROM chat_messages; --"

    await api.client.post("/api/chat/", json={"candidate_id": candidate["id"], "role": "assistant", "content": payload})

    history = (await api.client.get(f"/api/chat/{candidate['id']}")).json()
    assert history[0]["content"] == payload
    assert (await api.client.get(f"/api/candidates/{candidate['id']}")).json()["full_name"] == "O'Brien <b>bold</b>"


async def test_first_superuser_comes_from_settings(start_app: StartApp, database: Database) -> None:
    async with database.engine.begin() as conn:
        await conn.execute(text("DELETE FROM auth_sessions"))
        await conn.execute(text("DELETE FROM users"))
    database.admin_token = None
    api = await start_app(FIRST_SUPERUSER="boss@example.com", FIRST_SUPERUSER_PASSWORD="first-admin-password")

    client = await api.login("boss@example.com", "first-admin-password")
    assert (await client.get("/api/auth/me")).json()["role"] == "admin"


def test_cli_creates_users_and_the_first_admin(database: Database) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "DATABASE_URL": database.url}

    def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            cwd=REPO_ROOT / "backend",
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    first = cli("ensure-admin")
    assert first.returncode == 0, first.stderr
    assert "http://127.0.0.1:8000/login" in first.stdout

    created = cli(
        "create-user",
        "--email",
        "New.Recruiter@Example.com",
        "--name",
        "Новый",
        "--password-stdin",
        stdin="a-long-enough-password\n",
    )
    assert created.returncode == 0, created.stderr
    assert "new.recruiter@example.com (recruiter)" in created.stdout

    short = cli("create-user", "--email", "x@example.com", "--name", "X", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "не короче 10" in short.stderr


def _from(address: str) -> dict[str, str]:
    """The test server trusts X-Forwarded-For from 127.0.0.1, as it would from a reverse proxy."""
    return {"X-Forwarded-For": address}


async def test_a_stranger_cannot_lock_the_owner_out(start_app: StartApp) -> None:
    api = await start_app(LOGIN_MAX_FAILURES_PER_ACCOUNT=3, LOGIN_SLOWDOWN_SECONDS=0.01)
    stranger, owner = _from("203.0.113.66"), _from("198.51.100.7")
    for _ in range(6):
        await api.anon.post("/api/auth/login", data={"username": ADMIN_EMAIL, "password": "guess"}, headers=stranger)
    locked = await api.anon.post(
        "/api/auth/login", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, headers=stranger
    )
    assert locked.status_code == 429 and "Слишком много неудачных попыток" in locked.json()["detail"]

    mine = await api.anon.post(
        "/api/auth/login", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, headers=owner
    )
    assert mine.status_code == 200, mine.text
    # The owner's own typos are counted for the owner's address only, and a success starts afresh.
    for _ in range(2):
        typo = await api.anon.post("/api/auth/login", data={"username": ADMIN_EMAIL, "password": "typo"}, headers=owner)
        assert typo.status_code == 401
    again = await api.anon.post(
        "/api/auth/login", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, headers=owner
    )
    assert again.status_code == 200


async def test_an_admin_can_unlock_an_account(start_app: StartApp) -> None:
    api = await start_app(LOGIN_MAX_FAILURES_PER_ACCOUNT=2, LOGIN_SLOWDOWN_SECONDS=0.01)
    await api.create_user("locked@example.com", ADMIN_PASSWORD)
    office = _from("192.0.2.10")
    for _ in range(2):
        await api.anon.post("/api/auth/login", data={"username": "locked@example.com", "password": "x"}, headers=office)
    form = {"username": "locked@example.com", "password": ADMIN_PASSWORD}
    assert (await api.anon.post("/api/auth/login", data=form, headers=office)).status_code == 429

    listed = (await api.client.get("/api/users/")).json()
    user_id = next(u["id"] for u in listed if u["email"] == "locked@example.com")
    recruiter = await api.recruiter()
    assert (await recruiter.post(f"/api/users/{user_id}/unlock")).status_code == 403
    assert (await api.client.post("/api/users/999999/unlock")).status_code == 404
    unlocked = await api.client.post(f"/api/users/{user_id}/unlock")
    assert unlocked.status_code == 204

    assert (await api.anon.post("/api/auth/login", data=form, headers=office)).status_code == 200
    events = (await api.client.get("/api/audit/", params={"action": "auth.unlock"})).json()
    assert events["count"] == 1 and events["data"][0]["entity_id"] == user_id
