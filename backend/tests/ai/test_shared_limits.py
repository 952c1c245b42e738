"""Limits and breaker shared by every process of one deployment: real `nexus-ai serve` processes on one
database (SQLite and PostgreSQL), the state kept in that database or, with REDIS_URL, in the real Redis; a
fake GigaChat with a personal key that answers a second concurrent request with 429, as the real one does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fake_upstream import PERS_SCOPE, FakeUpstream, Fault
from tests.utils.app import Database, StartApp, create_candidate
from tests.utils.chat import ask, attempts
from tests.utils.processes import Instance, instance_env, start_instance
from tests.utils.redis import RedisForTest, redis_for_test

StartInstance = Callable[..., Awaitable[Instance]]


@pytest.fixture
async def token(start_app: StartApp, database: Database) -> str:
    """A login of the seeded admin (the in-process app seeds it; the instances share its database)."""
    await start_app()
    assert database.admin_token is not None
    return database.admin_token


@pytest.fixture(params=["database", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[RedisForTest | None]:
    """Where the shared state lives: the database, or Redis (with a prefix of this test's own)."""
    if request.param == "database":
        yield None
        return
    async with redis_for_test() as redis:
        yield redis


@pytest.fixture
async def start(
    fake: FakeUpstream, database: Database, tmp_path: Path, store: RedisForTest | None
) -> AsyncIterator[StartInstance]:
    started: list[Instance] = []
    shared = {} if store is None else {"REDIS_URL": store.url, "REDIS_PREFIX": store.prefix}

    async def start_(*, workers: int = 1, **settings: Any) -> Instance:
        name = f"instance-{len(started)}"
        env = instance_env(fake, database, tmp_path / name, **shared, **settings)
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


async def held_slots(store: RedisForTest | None, database: Database) -> int:
    """GigaChat's slots held right now (expired ones included: nobody has cleared them yet)."""
    if store is not None:
        return len(await store.members("limiter", "gigachat", "holders"))
    return int(await database.scalar("SELECT count(*) FROM provider_leases WHERE provider = 'gigachat'"))


async def test_a_crashed_holders_slot_is_freed_when_its_lease_runs_out(
    start: StartInstance, token: str, fake: FakeUpstream, store: RedisForTest | None, database: Database
) -> None:
    settings = {
        "LLM_LEASE_SECONDS": 2.0,
        "LLM_QUEUE_TIMEOUT": 30.0,
        "LLM_FIRST_TOKEN_TIMEOUT": 60.0,
        "LLM_HEDGE_AFTER": 0,
        "LLM_HEDGE_FOREIGN_AFTER": 0,
    }
    doomed, survivor = await start(**settings), await start(**settings)
    a, b = doomed.client(token), survivor.client(token)
    candidate = await create_candidate(a)
    fake.gigachat.push(Fault.silent_stream(120.0))  # the doomed instance's call holds GigaChat's only slot
    hanging = asyncio.create_task(ask(a, candidate["id"], "Вопрос, который не дождётся ответа", "blocking"))
    async with asyncio.timeout(30):
        while fake.gigachat_in_flight == 0:
            await asyncio.sleep(0.05)
    assert await held_slots(store, database) == 1

    doomed.kill()
    with pytest.raises(httpx.TransportError):
        await hanging
    assert await held_slots(store, database) == 1  # nobody released it: the lease has to run out

    answer = await ask(b, candidate["id"], "Вопрос после падения", "blocking")

    assert answer.reply is not None and answer.reply["provider"] == "gigachat"
    assert attempts(answer.reply) == []  # waited for the freed slot instead of going abroad
    assert fake.gigachat.max_in_flight == 1 and fake.gigachat_429_concurrency == 0
