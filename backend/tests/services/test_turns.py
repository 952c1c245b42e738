"""Crash-safe turns: an owner and a renewed lease on every pending question, a sweeper in every instance.

The crash is real: a `nexus-ai serve` process killed with SIGKILL mid-turn, never restarted, while another
instance on the same database (SQLite and PostgreSQL) carries on."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.models import ChatMessage, MessageStatus, Role, utcnow
from app.services.turns import INTERRUPTED
from tests.fake_upstream import FakeUpstream, Fault
from tests.utils.app import Database, StartApp, create_candidate, wait_until
from tests.utils.chat import ask
from tests.utils.processes import Instance, instance_env, start_instance

# Short leases so a test sees the sweep within seconds; GigaChat hangs and nothing else may answer.
CRASH = {
    "TURN_LEASE_SECONDS": 2.0,
    "TURN_SWEEP_INTERVAL": 0.5,
    "LLM_LEASE_SECONDS": 2.0,
    "LLM_FIRST_TOKEN_TIMEOUT": 120.0,
    "LLM_TOTAL_TIMEOUT": 300.0,
    "LLM_QUEUE_TIMEOUT": 120.0,
    "LLM_HEDGE_AFTER": 0,
    "LLM_HEDGE_FOREIGN_AFTER": 0,
}
StartInstance = Callable[..., Awaitable[Instance]]


@pytest.fixture
async def start(fake: FakeUpstream, database: Database, tmp_path: Path) -> AsyncIterator[StartInstance]:
    started: list[Instance] = []

    async def start_(**settings: Any) -> Instance:
        name = f"instance-{len(started)}"
        env = instance_env(fake, database, tmp_path / name, **settings)
        instance = await start_instance(env, tmp_path / f"{name}.log")
        started.append(instance)
        return instance

    yield start_
    fake.reset()
    for instance in started:
        await instance.stop()


async def chat_of(client: httpx.AsyncClient, candidate_id: int) -> list[dict[str, Any]]:
    response = await client.get(f"/api/chat/{candidate_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def _quietly(turn: Awaitable[Any]) -> None:
    """A request to the instance that is about to die: its connection breaks, which is the point."""
    with contextlib.suppress(httpx.HTTPError, AssertionError):
        await turn


async def _two_instances(
    start_app: StartApp, start: StartInstance, database: Database, **first: Any
) -> tuple[Instance, httpx.AsyncClient, httpx.AsyncClient]:
    """The instance that is about to go (with `first` settings on top of CRASH), a client of it, and a client of
    the survivor on the same database."""
    await start_app()  # seeds the admin's login in the shared database
    token = database.admin_token
    assert token is not None
    going, survivor = await start(**{**CRASH, **first}), await start(**CRASH)
    return going, going.client(token), survivor.client(token)


async def test_turns_of_a_killed_instance_are_failed_by_the_other_and_can_be_retried(
    start_app: StartApp, start: StartInstance, database: Database, fake: FakeUpstream
) -> None:
    doomed, a, b = await _two_instances(start_app, start, database)
    candidate = await create_candidate(b)
    fake.gigachat.set_default(Fault.silent_stream(300.0))
    questions = ["Поток 1", "Поток 2", "Без потока"]
    turns = [
        asyncio.create_task(_quietly(ask(a, candidate["id"], questions[0], "stream"))),
        asyncio.create_task(_quietly(ask(a, candidate["id"], questions[1], "stream"))),
        asyncio.create_task(_quietly(ask(a, candidate["id"], questions[2], "blocking"))),
    ]

    async def all_pending() -> bool:
        chat = await chat_of(b, candidate["id"])
        return sorted(m["content"] for m in chat if m["status"] == "pending") == sorted(questions)

    await wait_until(all_pending, timeout=30)
    doomed.kill()
    await asyncio.gather(*turns)

    async def all_failed() -> bool:
        return all(m["status"] == "failed" for m in await chat_of(b, candidate["id"]))

    await wait_until(all_failed, timeout=60)
    chat = await chat_of(b, candidate["id"])
    # None lost, none duplicated, none left pending, no half answer stored.
    assert sorted(m["content"] for m in chat) == sorted(questions)
    assert all(m["role"] == "user" and m["error"] == INTERRUPTED for m in chat)

    fake.gigachat.set_default(None)
    retried = await b.post(f"/api/chat/{candidate['id']}/messages/{chat[0]['id']}/regenerate")
    assert retried.status_code == 201, retried.text
    # The dead instance's GigaChat slot ran out with its lease: GigaChat, not the fallback, answers.
    assert retried.json()["assistant_message"]["provider"] == "gigachat"
    after = await chat_of(b, candidate["id"])
    assert [m["status"] for m in after if m["id"] == chat[0]["id"]] == ["ok"]


async def test_a_stopped_instance_exits_within_its_grace_and_its_cut_turn_can_be_retried(
    start_app: StartApp, start: StartInstance, database: Database, fake: FakeUpstream
) -> None:
    stopping, a, b = await _two_instances(start_app, start, database, SHUTDOWN_GRACE_SECONDS=1)
    candidate = await create_candidate(b)
    fake.gigachat.set_default(Fault.silent_stream(300.0))
    turn = asyncio.create_task(_quietly(ask(a, candidate["id"], "Вопрос перед остановкой", "stream")))

    async def pending() -> bool:
        return [m["status"] for m in await chat_of(b, candidate["id"])] == ["pending"]

    await wait_until(pending, timeout=30)
    os.killpg(stopping.process.pid, signal.SIGTERM)
    # Without a bound the server waits for the 300 s stream; with it, it cancels the turn after 1 s and exits
    # (uvicorn ends a clean shutdown by raising the signal it caught again, hence -SIGTERM).
    assert await asyncio.to_thread(stopping.process.wait, 30) == -signal.SIGTERM
    await turn

    async def failed() -> bool:
        return [m["status"] for m in await chat_of(b, candidate["id"])] == ["failed"]

    await wait_until(failed, timeout=30)
    [question] = await chat_of(b, candidate["id"])
    assert question["content"] == "Вопрос перед остановкой" and question["error"]
    fake.gigachat.set_default(None)
    retried = await b.post(f"/api/chat/{candidate['id']}/messages/{question['id']}/regenerate")
    assert retried.status_code == 201, retried.text


@pytest.mark.usefixtures("database")
async def test_a_slow_turn_keeps_its_lease_and_is_never_swept(start_app: StartApp, fake: FakeUpstream) -> None:
    api = await start_app(
        TURN_LEASE_SECONDS=0.6, TURN_SWEEP_INTERVAL=0.1, LLM_FIRST_TOKEN_TIMEOUT=10.0, LLM_HEDGE_FOREIGN_AFTER=0
    )
    candidate = await create_candidate(api.client)
    fake.gigachat.push(Fault.silent_stream(2.0))  # several lease lifetimes

    for mode in ("blocking", "stream"):
        answer = await ask(api.client, candidate["id"], f"Долгий вопрос ({mode})", mode)  # type: ignore[arg-type]
        assert answer.reply is not None, answer.failure
        fake.gigachat.push(Fault.silent_stream(2.0))

    chat = await chat_of(api.client, candidate["id"])
    assert [m["status"] for m in chat] == ["ok", "ok", "ok", "ok"]


@pytest.mark.usefixtures("database")
async def test_the_sweeper_fails_expired_and_leaseless_pending_turns_only(
    start_app: StartApp, database: Database
) -> None:
    api = await start_app(TURN_LEASE_SECONDS=5.0, TURN_SWEEP_INTERVAL=0.1)
    candidate = await create_candidate(api.client)
    now = utcnow()
    rows = {
        "expired": {"lease_owner": "dead:1", "lease_expires_at": now - timedelta(seconds=1)},
        "alive": {"lease_owner": "other:2", "lease_expires_at": now + timedelta(minutes=5)},
        "old, from before leases": {"created_at": now - timedelta(minutes=1)},
        "new, from before leases": {},
    }
    async with api.state.session_factory() as session, session.begin():
        for content, fields in rows.items():
            session.add(
                ChatMessage(
                    candidate_id=candidate["id"],
                    role=Role.USER.value,
                    content=content,
                    status=MessageStatus.PENDING,
                    **fields,
                )
            )

    async def swept() -> bool:
        chat = await chat_of(api.client, candidate["id"])
        return {m["content"]: m["status"] for m in chat}["expired"] == "failed"

    await wait_until(swept)
    async with api.state.session_factory() as session:
        state = {m.content: (m.status, m.error) for m in await session.scalars(select(ChatMessage))}
    assert state == {
        "expired": ("failed", INTERRUPTED),
        "alive": ("pending", None),
        "old, from before leases": ("failed", INTERRUPTED),
        "new, from before leases": ("pending", None),
    }
