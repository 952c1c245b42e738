"""The Redis-backed limiter and breaker against the real Redis: each `RedisBackend` below is its own
connection with nothing shared but Redis, as two processes would be."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from app.ai.errors import ErrorKind, ProviderError
from app.ai.resilience import CircuitBreaker, ConcurrencyLimiter, SharedBreaker, SharedLimiter
from app.ai.resilience_redis import RedisBackend, RedisBreaker, RedisLimiter
from app.core.db import create_session_factory
from tests.utils.app import Database
from tests.utils.processes import free_port
from tests.utils.redis import RedisForTest, redis_for_test


@pytest.fixture
async def redis() -> AsyncIterator[RedisForTest]:
    async with redis_for_test() as found:
        yield found


@pytest.fixture
async def backends(redis: RedisForTest) -> AsyncIterator[list[RedisBackend]]:
    made = [RedisBackend(redis.url, redis.prefix, timeout=60.0) for _ in range(3)]
    yield made
    for backend in made:
        await backend.aclose()


def limiter(backend: RedisBackend, name: str, *, capacity: int = 1, queue: int = 1, wait: float = 20.0) -> RedisLimiter:
    return RedisLimiter(
        backend,
        "gigachat",
        capacity,
        queue,
        wait,
        holder=name,
        fallback=ConcurrencyLimiter(capacity, queue, wait),
        poll_interval=30.0,  # longer than the wait: only a release's wake-up can hand a waiter the slot
    )


async def test_the_queue_bound_holds_across_processes_and_a_release_wakes_the_waiter(
    backends: list[RedisBackend], redis: RedisForTest
) -> None:
    first, second, third = (limiter(b, f"p{i}") for i, b in enumerate(backends))
    order: list[str] = []
    release_first = asyncio.Event()

    async def hold() -> None:
        async with first.slot():
            order.append("first")
            await release_first.wait()

    async def wait_for_it() -> None:
        async with second.slot():
            order.append("second")

    holding = asyncio.create_task(hold())
    while "first" not in order:
        await asyncio.sleep(0.01)
    waiting = asyncio.create_task(wait_for_it())
    while not await redis.members("limiter", "gigachat", "waiting"):
        await asyncio.sleep(0.01)

    # One slot held, one call waiting (in another process): a third is refused, not queued.
    with pytest.raises(ProviderError) as refused:
        async with third.slot():
            pytest.fail("a full shared queue let a call through")
    assert refused.value.kind is ErrorKind.BUSY

    release_first.set()
    await holding
    await asyncio.wait_for(waiting, 15)  # the poll alone (30 s) would have run past the 20 s wait: BUSY
    assert order == ["first", "second"]
    assert await redis.members("limiter", "gigachat", "holders") == []
    assert await redis.members("limiter", "gigachat", "waiting") == []


async def test_a_chat_waiting_in_one_process_gets_the_slot_before_a_bulk_job_waiting_in_another(
    backends: list[RedisBackend], redis: RedisForTest
) -> None:
    """Resume intake runs in worker processes, chats in the app: the bulk job queued first still lets the chat
    have the freed slot."""
    holder, worker, app = (limiter(b, f"p{i}", queue=2) for i, b in enumerate(backends))
    order: list[str] = []
    release = asyncio.Event()

    async def hold() -> None:
        async with holder.slot():
            order.append("held")
            await release.wait()

    async def bulk() -> None:
        async with worker.slot(background=True):
            order.append("bulk")

    async def chat() -> None:
        async with app.slot():
            order.append("chat")

    holding = asyncio.create_task(hold())
    while "held" not in order:
        await asyncio.sleep(0.01)
    waiting = [asyncio.create_task(bulk())]
    while len(await redis.members("limiter", "gigachat", "waiting")) < 1:
        await asyncio.sleep(0.01)
    waiting.append(asyncio.create_task(chat()))
    while len(await redis.members("limiter", "gigachat", "waiting")) < 2:
        await asyncio.sleep(0.01)

    release.set()
    await asyncio.wait_for(asyncio.gather(holding, *waiting), 15)  # woken by the releases, not the 30 s poll
    assert order == ["held", "chat", "bulk"]
    assert await redis.members("limiter", "gigachat", "chats-waiting") == []


async def test_capacity_is_never_exceeded_by_many_callers_in_several_processes(backends: list[RedisBackend]) -> None:
    limiters = [limiter(b, f"p{i}", capacity=2, queue=30) for i, b in enumerate(backends)]
    inside = 0
    most = 0

    async def call(i: int) -> None:
        nonlocal inside, most
        async with limiters[i % 3].slot():
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(call(i) for i in range(24)))
    assert most == 2


async def test_a_breaker_opened_in_one_process_is_open_in_another_and_lets_one_probe_through(
    backends: list[RedisBackend],
) -> None:
    a, b, c = (RedisBreaker(x, "gigachat", 2, 0.2, fallback=CircuitBreaker(2, 0.2)) for x in backends)
    assert await b.allow()
    await a.record_failure()
    await a.record_failure()

    assert not await b.allow()
    assert await c.current_state() == "open"
    await asyncio.sleep(0.3)  # past the cool-down
    probes = await asyncio.gather(a.allow(), b.allow(), c.allow())
    assert sorted(probes) == [False, False, True]
    prober = (a, b, c)[probes.index(True)]
    await prober.record_success()
    assert await a.current_state() == "closed" and await c.allow()


async def test_an_unreachable_redis_falls_back_to_the_database(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    session_factory = create_session_factory(database.engine)
    dead = RedisBackend(f"redis://127.0.0.1:{free_port()}/0", "nowhere", timeout=1.0)
    db_limiter = SharedLimiter(session_factory, "gigachat", 1, 1, 5.0, holder="here")
    db_breaker = SharedBreaker(session_factory, "gigachat", 1, 600.0)
    slot = RedisLimiter(dead, "gigachat", 1, 1, 5.0, holder="here", fallback=db_limiter)
    breaker = RedisBreaker(dead, "gigachat", 1, 600.0, fallback=db_breaker)
    try:
        with caplog.at_level(logging.WARNING, logger="app.ai.resilience"):
            assert await breaker.allow()
            async with slot.slot():
                assert await db_limiter.held() == 1  # the database holds the slot
            await breaker.record_failure()
        assert await db_limiter.held() == 0
        assert await db_breaker.current_state() == "open"  # the failure was counted in the database
        assert not await breaker.allow()
        assert "Redis unreachable" in caplog.text and "database-backed" in caplog.text
        assert caplog.text.count("Redis unreachable") == 1  # once per outage, not once per call
    finally:
        await dead.aclose()
