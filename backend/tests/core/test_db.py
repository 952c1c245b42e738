"""The connection pool under load: connections are kept, not opened per request."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event

from tests.fake_upstream import FakeUpstream
from tests.utils.app import StartApp, create_candidate
from tests.utils.chat import ask

pytestmark = pytest.mark.usefixtures("database")


async def test_bursts_of_chats_reuse_the_pools_connections_instead_of_opening_new_ones(
    start_app: StartApp, fake: FakeUpstream
) -> None:
    """A team's burst of turns is served by the pool's kept connections. A connection opened for one request and
    closed at its end costs more than the turn's own writes (on SQLite a thread, a file open and its pragmas; on
    PostgreSQL a backend process), so three bursts of 50 turns open at most the pool's size.

    GigaChat takes all 50 at once and the stream timeouts are generous: this test is about the pool, and a loaded CI
    machine must not turn a queue overflow or a slow chunk into a fallback that fails the burst."""
    fake.gigachat_concurrency_limit = 50
    api = await start_app(
        GIGACHAT_MAX_CONCURRENCY=50, LLM_QUEUE_SIZE=50, LLM_FIRST_TOKEN_TIMEOUT=10.0, LLM_STREAM_IDLE_TIMEOUT=10.0
    )
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
            failures = [answer.failure for answer in answers if answer.reply is None]
            assert not failures, failures
    finally:
        event.remove(engine, "connect", connected)

    assert len(opened) <= pool_size
