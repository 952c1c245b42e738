"""What tests share about the app: the seeded admin, both databases, the app on a real port, and small helpers
(a candidate, server-sent events, polling). The fixtures that build them are in tests/conftest.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.core.config import Settings
from app.core.security import token_hash
from app.models import Base, UserRole
from app.services import users
from tests.fake_upstream import FakeUpstream

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REPO_ROOT = Path(__file__).resolve().parents[3]


async def create_postgres_database(admin_url: str) -> tuple[str, Callable[[], Awaitable[None]]]:
    url = make_url(admin_url).set(drivername="postgresql+asyncpg")
    name = f"nexus_test_{uuid.uuid4().hex[:12]}"
    await _admin_statement(url, f'CREATE DATABASE "{name}"')

    async def drop() -> None:
        await _admin_statement(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url.set(database=name).render_as_string(hide_password=False), drop


async def _admin_statement(url: URL, sql: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction: an autocommit engine of its own, gone afterwards.
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@dataclass
class Database:
    backend: str
    url: str
    engine: AsyncEngine
    admin_token: str | None = None
    """A login of the seeded admin, kept across tests: argon2 per test would cost seconds."""

    async def clear(self) -> None:
        kept = ("users", "auth_sessions")
        async with self.engine.begin() as conn:
            others = [t for t in Base.metadata.sorted_tables if t.name not in kept]
            if self.backend == "postgres":
                # CASCADE: the full-text side table `candidate_fts` (migration 0012, not in the models) references
                # candidates.
                await conn.execute(text(f"TRUNCATE {', '.join(t.name for t in others)} RESTART IDENTITY CASCADE"))
            else:
                for table in reversed(others):
                    await conn.execute(table.delete())
            params = {"email": ADMIN_EMAIL, "hash": token_hash(self.admin_token or "")}
            await conn.execute(text("DELETE FROM auth_sessions WHERE token_hash != :hash"), params)
            await conn.execute(text("DELETE FROM users WHERE email != :email"), params)
            await conn.execute(text("UPDATE auth_sessions SET revoked_at = NULL"))
            await conn.execute(text("UPDATE users SET is_active = true, role = 'admin'"))

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()


class AppServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The test runner owns Ctrl-C.
        yield


@dataclass
class RunningApp:
    """The app on a real port. `client` is logged in as an admin with a bearer token; `anon` is not logged in."""

    app: FastAPI
    settings: Settings
    base_url: str
    client: httpx.AsyncClient
    anon: httpx.AsyncClient
    clients: list[httpx.AsyncClient]

    @property
    def state(self) -> Any:
        return self.app.state

    stop: Callable[[], Awaitable[None]] | None = None
    """Shut this instance down as a restart would (lifespan shutdown); the fixture's cleanup then skips it."""

    def new_client(self, **kwargs: Any) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self.base_url, timeout=30.0, **kwargs)
        self.clients.append(client)
        return client

    async def create_user(self, email: str, password: str, role: str = "recruiter") -> None:
        async with self.app.state.session_factory() as session, session.begin():
            if await users.by_email(session, email) is None:
                await users.create(
                    session, email=email, display_name=email.split("@")[0], password=password, role=UserRole(role)
                )

    async def login(self, email: str, password: str) -> httpx.AsyncClient:
        """A new client logged in with a bearer token."""
        response = await self.anon.post("/api/auth/login", data={"username": email, "password": password})
        assert response.status_code == 200, response.text
        return self.new_client(headers={"Authorization": f"Bearer {response.json()['access_token']}"})

    async def recruiter(self, email: str = "recruiter@example.com") -> httpx.AsyncClient:
        await self.create_user(email, ADMIN_PASSWORD, "recruiter")
        return await self.login(email, ADMIN_PASSWORD)


def fake_values(fake: FakeUpstream, database: Database) -> dict[str, Any]:
    """The settings of an app on the test's database with both providers on the fake, and limits short enough
    for tests (a test process's app and a separate `nexus-ai serve` alike)."""
    return {
        "DATABASE_URL": database.url,
        "GIGACHAT_API_KEY": fake.credentials,
        "GIGACHAT_SCOPE": fake.scope,
        "GIGACHAT_BASE_URL": fake.gigachat_base_url,
        "GIGACHAT_AUTH_URL": fake.gigachat_auth_url,
        "OPENROUTER_API_KEY": fake.openrouter_api_key,
        "OPENROUTER_BASE_URL": fake.openrouter_base_url,
        "LLM_FIRST_TOKEN_TIMEOUT": 1.0,
        "LLM_STREAM_IDLE_TIMEOUT": 0.5,
        "LLM_TOTAL_TIMEOUT": 20.0,
        "LLM_QUEUE_TIMEOUT": 5.0,
        "LLM_RETRY_AFTER_BUDGET": 1.0,
        "LLM_BREAKER_FAILURES": 100,
    }


def fake_settings(fake: FakeUpstream, database: Database, **overrides: Any) -> Settings:
    values = fake_values(fake, database)
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


StartApp = Callable[..., Awaitable[RunningApp]]


RESUME = (
    "Иван Петров, Python-разработчик. 6 лет опыта: FastAPI, PostgreSQL, Kafka. "
    "Руководил командой из 4 человек в финтехе."
)


async def create_candidate(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {
        "full_name": "Иван Петров",
        "email": "ivan.petrov@example.com",
        "phone": "+7 900 123-45-67",
        "position": "Python-разработчик",
        "resume_text": RESUME,
        **fields,
    }
    response = await client.post("/api/candidates/", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


@dataclass
class SSEEvent:
    event: str
    data: dict[str, Any]


async def read_sse(response: httpx.Response) -> list[SSEEvent]:
    events: list[SSEEvent] = []
    async for event in iter_sse(response):
        events.append(event)
    return events


async def iter_sse(response: httpx.Response) -> AsyncIterator[SSEEvent]:
    name, data = "message", []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield SSEEvent(name, json.loads("\n".join(data)))
            name, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Poll a condition (never assert on elapsed time); fail with a clear message if it never holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(0.05)
