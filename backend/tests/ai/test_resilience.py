"""The database-backed provider limiter of two processes sharing one database (SQLite and PostgreSQL): slots a
process keeps between calls, and what other processes can still take."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
from sqlalchemy import event, text

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


async def test_a_burst_of_calls_takes_its_slots_together_not_one_database_trip_each(database: Database) -> None:
    """Twenty calls of one process needing a slot at once (a bulk analysis, a morning's chats) take their slots
    in one trip to the database: one at a time, each trip waited its turn at the same lock."""
    here = limiter(database, "here", 20)
    pool = database.engine.sync_engine
    checkouts: list[object] = []

    def checked_out(dbapi_connection: object, _record: object, _proxy: object) -> None:
        checkouts.append(dbapi_connection)

    try:
        async with AsyncExitStack() as calls:
            event.listen(pool, "checkout", checked_out)
            try:
                await asyncio.gather(*(calls.enter_async_context(here.slot()) for _ in range(20)))
            finally:
                event.remove(pool, "checkout", checked_out)
            assert await here.held() == 20
        assert len(checkouts) == 1
    finally:
        await here.aclose()


async def test_a_call_cancelled_while_its_slot_is_being_taken_leaves_no_slot_behind(database: Database) -> None:
    """A chat stopped while its slot is being taken (the recruiter left, the request timed out): the slot taken for
    it comes free at once, not when its lease runs out half a minute later."""
    if database.backend != "postgres":
        pytest.skip("waits for PostgreSQL's view of a statement blocked on a lock")
    here = limiter(database, "here", 4)
    async with database.engine.connect() as blocker:
        # Holds every write to the lease table, so the take waits inside PostgreSQL.
        await blocker.execute(text("LOCK TABLE provider_leases IN EXCLUSIVE MODE"))
        call = asyncio.create_task(_one_call(here))
        await wait_until(lambda: _take_waits_for_a_lock(database))
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await blocker.rollback()
    try:
        await wait_until(lambda: _taken_and_given_back(database, here))
    finally:
        await here.aclose()


async def _one_call(limiter: SharedLimiter) -> None:
    async with limiter.slot():
        await asyncio.Event().wait()  # until cancelled


async def _takes(database: Database, waiting_for_a_lock: bool) -> int:
    """The takes of a slot running in PostgreSQL now (or only those waiting for a lock), this query aside."""
    condition = "wait_event_type = 'Lock'" if waiting_for_a_lock else "state = 'active'"
    return int(
        await database.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            f"AND query LIKE '%take_provider_lease%' AND {condition}"
        )
    )


async def _take_waits_for_a_lock(database: Database) -> bool:
    return await _takes(database, waiting_for_a_lock=True) == 1


async def _taken_and_given_back(database: Database, limiter: SharedLimiter) -> bool:
    # The take has ended (with the lock gone it goes through), and no lease of it is left.
    return await _takes(database, waiting_for_a_lock=False) == 0 and await limiter.held() == 0


async def _held(limiter: SharedLimiter, count: int) -> bool:
    return await limiter.held() == count
