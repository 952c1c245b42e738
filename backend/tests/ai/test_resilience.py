"""The database-backed provider limiter of two processes sharing one database (SQLite and PostgreSQL): slots a
process keeps between calls, and what other processes can still take."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from app.ai.resilience import SharedLimiter
from app.core.db import create_session_factory
from tests.utils.app import Database, wait_until


def limiter(database: Database, holder: str, capacity: int) -> SharedLimiter:
    # A short queue wait: a slot that is not free at once must fail the test, not be waited for at length.
    return SharedLimiter(
        create_session_factory(database.engine), "gigachat", capacity, 20, 1.0, holder=holder, linger=0.3
    )


async def test_a_process_keeps_a_quarter_of_the_slots_between_calls_and_gives_them_back(database: Database) -> None:
    here, there = limiter(database, "here", 8), limiter(database, "there", 8)
    try:
        async with AsyncExitStack() as calls:
            for _ in range(8):
                await calls.enter_async_context(here.slot())
            assert await here.held() == 8
        assert await here.held() == 2  # kept for this process's next calls: a quarter of the capacity

        async with here.slot():
            assert await here.held() == 2  # the next call took a kept slot instead of a new one

        # The other process gets every slot but the two kept ones at once...
        async with AsyncExitStack() as calls:
            for _ in range(6):
                await calls.enter_async_context(there.slot())
            assert await here.held() == 8

        # ...and the kept ones too once nobody here has used them for a moment.
        await wait_until(lambda: _held(here, 0))
        async with AsyncExitStack() as calls:
            for _ in range(8):
                await calls.enter_async_context(there.slot())
    finally:
        await here.aclose()
        await there.aclose()


async def test_stopping_gives_back_the_kept_slots_at_once(database: Database) -> None:
    here = limiter(database, "here", 8)
    async with here.slot():
        pass
    assert await here.held() == 1

    await here.aclose()

    assert await here.held() == 0


async def test_with_a_personal_key_nothing_is_kept(database: Database) -> None:
    here, there = limiter(database, "here", 1), limiter(database, "there", 1)
    try:
        async with here.slot():
            pass
        assert await here.held() == 0
        async with asyncio.timeout(5), there.slot():  # the other process's call does not wait for it
            assert await there.held() == 1
    finally:
        await here.aclose()
        await there.aclose()


async def _held(limiter: SharedLimiter, count: int) -> bool:
    return await limiter.held() == count
