"""The connection pool under load: connections are kept, not opened per request."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event

from tests.utils.app import StartApp, create_candidate
from tests.utils.chat import ask

pytestmark = pytest.mark.usefixtures("database")


async def test_bursts_of_chats_reuse_the_pools_connections_instead_of_opening_new_ones(start_app: StartApp) -> None:
    """A team's burst of turns is served by the pool's kept connections. A connection opened for one request and
    closed at its end costs more than the turn's own writes (on SQLite a thread, a file open and its pragmas; on
    PostgreSQL a backend process), so three bursts of 50 turns open at most the pool's size."""
    api = await start_app()
    candidate = await create_candidate(api.client)
    engine = api.state.engine.sync_engine
    pool_size = engine.pool.size()  # the connections a QueuePool keeps (both databases)
    opened: list[object] = []

    def connected(dbapi_connection: object, _record: object) -> None:
        opened.append(dbapi_connection)

    event.listen(engine, "connect", connected)
    try:
        for burst in range(3):
            answers = await asyncio.gather(
                *(ask(api.client, candidate["id"], f"Вопрос {burst}.{i}", "blocking") for i in range(50))
            )
            assert all(answer.reply is not None for answer in answers)
    finally:
        event.remove(engine, "connect", connected)

    assert len(opened) <= pool_size
