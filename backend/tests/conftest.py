"""Shared fixtures: both database backends, the fake GigaChat/OpenRouter server, and the app on a real port.

Every test that uses `database` (directly or through `start_app`) runs on SQLite and on PostgreSQL.
PostgreSQL comes from TEST_DATABASE_URL: each run creates its own database there and drops it after.
Without TEST_DATABASE_URL the PostgreSQL half is skipped locally and fails in CI.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from app.core import migrations
from app.core.config import Settings
from app.core.db import create_engine
from app.main import create_app
from app.services import auth, users
from tests.fake_upstream import FakeUpstream
from tests.utils.app import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    IN_CI,
    AppServer,
    Database,
    RunningApp,
    StartApp,
    create_postgres_database,
    fake_settings,
)

ENV_PREFIXES = (
    "GIGACHAT_",
    "OPENROUTER_",
    "LLM_",
    "CHAT_",
    "DATABASE_",
    "USE_GIGACHAT",
    "LOG_",
    "DATA_DIR",
    "RESUME_",
    "ANALYSIS_",
    "REDIS_",
    "REDIS_URL",
    "INTAKE_",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's real keys must never configure a test (the GigaChat SDK reads GIGACHAT_* itself)."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES):
            monkeypatch.delenv(name)


# --- fake upstream ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake(fake_server: FakeUpstream) -> Iterator[FakeUpstream]:
    fake_server.reset()
    yield fake_server
    fake_server.reset()


# --- databases -------------------------------------------------------------------------------------


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
async def database_session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    drop: Callable[[], Awaitable[None]] | None = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
    else:
        admin_url = os.environ.get("TEST_DATABASE_URL")
        if not admin_url:
            if IN_CI:
                pytest.fail("TEST_DATABASE_URL is not set: CI must run the suite on PostgreSQL too")
            pytest.skip("PostgreSQL half skipped: set TEST_DATABASE_URL to run it")
        try:
            url, drop = await create_postgres_database(admin_url)
        except Exception as exc:
            if IN_CI:
                pytest.fail(f"PostgreSQL at TEST_DATABASE_URL is unreachable: {exc}")
            pytest.skip(f"PostgreSQL unreachable: {exc}")
    engine = create_engine(Settings(_env_file=None, DATABASE_URL=url))  # type: ignore[call-arg]
    await migrations.upgrade(engine)
    try:
        yield Database(request.param, url, engine)
    finally:
        await engine.dispose()
        if drop is not None:
            await drop()


@pytest.fixture
async def database(database_session: Database) -> AsyncIterator[Database]:
    yield database_session
    await database_session.clear()


# --- the app on a real port ------------------------------------------------------------------------


@pytest.fixture
async def start_app(fake: FakeUpstream, database: Database, tmp_path: Path) -> AsyncIterator[StartApp]:
    """Start the real app under uvicorn on a free port; keyword arguments override settings.

    Uploaded files go to a directory of this test, never to the repository's data/.
    """
    started: list[tuple[AppServer, asyncio.Task[None], RunningApp]] = []

    async def start(settings: Settings | None = None, **overrides: Any) -> RunningApp:
        settings = settings or fake_settings(fake, database, **{"DATA_DIR": tmp_path / "data", **overrides})
        app = create_app(settings)
        server = AppServer(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on"))
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped during start-up")
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        base_url = f"http://127.0.0.1:{port}"
        anon = httpx.AsyncClient(base_url=base_url, timeout=30.0)
        running = RunningApp(app, settings, base_url, anon, anon, [anon])
        started.append((server, task, running))

        async def stop() -> None:
            server.should_exit = True
            await task

        running.stop = stop
        if database.admin_token is None:
            await running.create_user(ADMIN_EMAIL, ADMIN_PASSWORD, "admin")
            async with app.state.session_factory() as session, session.begin():
                admin = await users.by_email(session, ADMIN_EMAIL)
                assert admin is not None
                database.admin_token = (await auth.issue(session, settings, admin)).token
        running.client = running.new_client(headers={"Authorization": f"Bearer {database.admin_token}"})
        return running

    yield start
    fake.reset()  # release anything hanging so the servers can stop
    for server, task, running in reversed(started):
        for client in running.clients:
            await client.aclose()
        server.should_exit = True
        if not task.done():
            await task


@pytest.fixture
async def api(start_app: StartApp) -> RunningApp:
    """The app with both providers pointed at the fake."""
    return await start_app()
