"""Limits and breaker shared by every process of one deployment: real `nexus-ai serve` processes on one
database (SQLite and PostgreSQL), a fake GigaChat with a personal key that answers a second concurrent
request with 429, as the real one does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Database, StartApp, create_candidate
from tests.fake_upstream import PERS_SCOPE, FakeUpstream, Fault
from tests.utils.chat import ask, attempts
from tests.utils.processes import Instance, instance_env, start_instance

StartInstance = Callable[..., Awaitable[Instance]]


@pytest.fixture
async def token(start_app: StartApp, database: Database) -> str:
    """A login of the seeded admin (the in-process app seeds it; the instances share its database)."""
    await start_app()
    assert database.admin_token is not None
    return database.admin_token


@pytest.fixture
async def start(fake: FakeUpstream, database: Database, tmp_path: Path) -> AsyncIterator[StartInstance]:
    started: list[Instance] = []

    async def start_(*, workers: int = 1, **settings: Any) -> Instance:
        name = f"instance-{len(started)}"
        env = instance_env(fake, database, tmp_path / name, **settings)
        instance = await start_instance(env, tmp_path / f"{name}.log", workers=workers)
        started.append(instance)
        return instance

    yield start_
    fake.reset()  # release anything hanging so the instances can stop
    for instance in started:
        await instance.stop()


async def ten_chats(clients: list[httpx.AsyncClient], candidate_id: int) -> list[dict[str, Any]]:
    answers = await asyncio.gather(
        *(ask(clients[i % len(clients)], candidate_id, f"Вопрос {i}", "blocking") for i in range(10))
    )
    assert all(a.reply is not None for a in answers), [a.failure for a in answers]
    return [a.reply for a in answers if a.reply is not None]


async def test_two_instances_never_send_two_requests_to_a_pers_gigachat(
    start: StartInstance, token: str, fake: FakeUpstream
) -> None:
    assert fake.scope == PERS_SCOPE
    fake.chunk_delay = 0.02  # each answer takes a while, so the chats overlap
    first, second = await start(LLM_QUEUE_TIMEOUT=30.0), await start(LLM_QUEUE_TIMEOUT=30.0)
    clients = [first.client(token), second.client(token)]
    candidate = await create_candidate(clients[0])

    replies = await ten_chats(clients, candidate["id"])

    assert fake.gigachat.max_in_flight == 1
    assert fake.gigachat_429_concurrency == 0
    # Nobody's data went abroad for nothing: GigaChat answered all ten, one at a time.
    assert {r["provider"] for r in replies} == {"gigachat"}
    assert all(attempts(r) == [] for r in replies)


async def test_serve_with_two_workers_shares_the_limit(start: StartInstance, token: str, fake: FakeUpstream) -> None:
    fake.chunk_delay = 0.02
    instance = await start(workers=2, LLM_QUEUE_TIMEOUT=30.0)
    clients = [instance.client(token) for _ in range(10)]  # separate connections, spread over the workers
    candidate = await create_candidate(clients[0])

    replies = await ten_chats(clients, candidate["id"])

    assert fake.gigachat.max_in_flight == 1 and fake.gigachat_429_concurrency == 0
    assert {r["provider"] for r in replies} == {"gigachat"}


async def test_a_breaker_opened_through_one_instance_makes_another_skip_gigachat(
    start: StartInstance, token: str, fake: FakeUpstream
) -> None:
    settings = {"LLM_BREAKER_FAILURES": 2, "LLM_BREAKER_COOLDOWN": 600.0}
    first, second = await start(**settings), await start(**settings)
    a, b = first.client(token), second.client(token)
    candidate = await create_candidate(a)
    fake.gigachat.set_default(Fault.status(402, "Payment Required"))
    for i in range(2):
        answer = await ask(a, candidate["id"], f"Вопрос {i}", "blocking")
        assert answer.reply is not None and attempts(answer.reply) == [("gigachat", "payment")]
    fake.gigachat.set_default(None)
    calls_before = fake.gigachat.request_count

    answer = await ask(b, candidate["id"], "Вопрос через другой экземпляр", "stream")

    assert answer.reply is not None and answer.reply["provider"] == "openrouter"
    assert attempts(answer.reply) == [("gigachat", "breaker_open")]
    assert fake.gigachat.request_count == calls_before  # skipped without a call
    ready = (await b.get("/ready")).json()
    assert {p["name"]: p["breaker"] for p in ready["providers"]}["gigachat"] == "open"
