"""Async engine and session factory for SQLite (WAL) or PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import greenlet_spawn

from app.core.config import Settings
from app.core.sqlite_driver import OneTripDBAPI

SQLITE_POOL_SIZE = 10
"""Connections to a SQLite file per process (each with its own thread and page cache). SQLite has one writer, so
more only hold memory; fewer would have the page's reads wait behind turns queued for the write lock."""


def create_engine(settings: Settings) -> AsyncEngine:
    url = make_url(settings.DATABASE_URL)
    # Readable Cyrillic in JSON columns, so that a text search over them (skills) matches what people type.
    # hide_parameters: statement parameters (candidates' contacts, emails) never appear in errors or logs.
    kwargs: dict[str, Any] = {
        "echo": settings.DATABASE_ECHO,
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
        "hide_parameters": True,
    }
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            # A file's pool (`:memory:` has no queue): every connection kept, none opened per request. An
            # overflow connection cost a thread, a file open and its pragmas, and closed again at its return;
            # with SQLAlchemy's default 5 + 10, turns waiting for the writer held the overflow ones, so a load of
            # 50 chats opened and closed connections all the time (bench/README.md, ninth pass).
            kwargs["pool_size"], kwargs["max_overflow"] = SQLITE_POOL_SIZE, 0
            kwargs["pool_timeout"] = settings.DATABASE_POOL_TIMEOUT
        # Writers wait for each other instead of failing with "database is locked".
        kwargs["connect_args"] = {"timeout": 30}
        if url.get_driver_name() == "aiosqlite":
            # One trip to the connection's thread per statement, not four (app/core/sqlite_driver.py).
            kwargs["module"] = OneTripDBAPI()
    else:
        # Sized to the database server (Settings.DATABASE_POOL_SIZE), no connections opened and closed per
        # request under a burst; no ping per checkout (a round trip each time): connections are recycled by age
        # instead, and one the server closed is dropped at checkout (`_drop_if_closed`).
        kwargs["pool_size"] = settings.DATABASE_POOL_SIZE
        kwargs["max_overflow"] = settings.DATABASE_MAX_OVERFLOW
        kwargs["pool_timeout"] = settings.DATABASE_POOL_TIMEOUT
        kwargs["pool_recycle"] = settings.DATABASE_POOL_RECYCLE_SECONDS
        # Last in, first out: a quiet moment reuses the connection used last, whose prepared statements are
        # already there, instead of rotating through every pooled connection (each one preparing every statement
        # again after a burst had opened them all).
        kwargs["pool_use_lifo"] = True
    engine = create_async_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        event.listen(engine.sync_engine, "checkout", _drop_if_closed)
    return engine


def _drop_if_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    # With no ping per checkout, a connection the server closed while it sat in the pool (a restart, a
    # failover, an idle timeout) would be handed out, fail its statement and, when the statement went to the
    # driver directly, go back to the pool to fail again. The driver already knows it is closed (it read the
    # end of the stream), so it is checked here for free; the pool then discards it and takes another.
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the database closed this connection")


def _json_dumps(value: Any) -> str:
    # orjson writes UTF-8 as is, never \\u escapes.
    return orjson.dumps(value).decode()


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the page read history while a reply is being written; foreign keys make cascades real.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # SQLite's own lower() folds ASCII only; searches by Cyrillic names need the Unicode one.
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def holds_connection(session: AsyncSession) -> bool:
    """Whether the session has checked out a connection (a read of the login on a cache miss, a write)."""
    transaction = session.sync_session.get_transaction()
    return transaction is not None and bool(transaction._connections)  # SQLAlchemy 2.1's checked-out connections


async def commit(session: AsyncSession) -> None:
    """`session.commit()`, skipped when there is nothing to end: no connection checked out, nothing to flush and
    no callback waiting for the outcome. Such a commit sends nothing to the database, but its greenlet hop and
    the transaction's bookkeeping cost about 50 µs of CPU, and a chat turn whose login came from the cache
    (nothing read through the session) would pay that at each of its commit points."""
    sync = session.sync_session
    if holds_connection(session) or sync.new or sync.dirty or sync.deleted or sync.dispatch.after_commit:
        await session.commit()


async def close(session: AsyncSession) -> None:
    """Close a request's session, skipped when there is nothing to close: no connection (after the request's
    commit or rollback it holds none) and no objects. Such a close releases nothing, while SQLAlchemy's close (a
    task of its own, shielded, and a greenlet hop) cost about 35 µs of CPU on every chat turn. A session with
    objects is closed: its identity map and their states refer to each other, and only the close breaks that
    cycle, or the garbage collector would have to (about 34 objects per loaded row). A session still holding a
    connection (its commit or rollback failed) is closed as `async with` closes it: run to completion even if
    this task is cancelled meanwhile, so the connection is back in the pool before the request ends."""
    sync = session.sync_session
    if holds_connection(session) or sync.identity_map or sync.new or sync.deleted:
        async with session:
            pass


@asynccontextmanager
async def pg_driver(engine: AsyncEngine) -> AsyncIterator[Any]:
    """A pooled PostgreSQL connection's asyncpg connection itself, for the statements on every call's path that
    go to the driver (each one statement, so its own transaction: no BEGIN/COMMIT round trips).

    Checked out as the pool's raw connection, not through `engine.connect()`: without the `Connection` around
    it a checkout and return cost about 90 µs less CPU (145 against 235 µs with a `SELECT 1`), and a turn
    takes two. A connection a statement found closed goes back like any other: the next checkout drops it
    (`_drop_if_closed`)."""
    fairy = await engine.raw_connection()
    try:
        yield fairy.driver_connection
    finally:
        # The return runs the pool's reset and may close the connection (an overflow one), both awaiting the
        # driver: inside a greenlet, as everywhere in SQLAlchemy's asyncio layer.
        await greenlet_spawn(fairy.close)


LIKE_ESCAPE = "\\"


def like_pattern(text: str) -> str:
    """A case-insensitive "contains" pattern for LIKE (compare with lower()): `%` and `_` typed by a person
    are literal characters, not wildcards. Use with `.like(pattern, escape=LIKE_ESCAPE)`."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
