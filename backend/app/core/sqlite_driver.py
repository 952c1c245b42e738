"""SQLite through aiosqlite in as few trips to the connection's thread as a unit of work allows.

aiosqlite runs every sqlite3 call on the connection's own thread and hands the result back to the event loop.
SQLAlchemy's adapter makes four such trips for one statement (open a cursor, execute, fetch the rows, close the
cursor), and a chat turn runs about twenty statements: eighty thread hand-offs, each waking the loop through
its self-pipe, were most of a turn's CPU time on SQLite (bench/README.md). Here the cursor is a plain sqlite3
cursor opened, run, drained and closed inside one function on that thread, so a statement costs one trip.

Everything else (connections, commit, rollback, isolation levels, errors, server-side cursors) is SQLAlchemy's
own; `create_engine` passes `OneTripDBAPI` as the dialect's DBAPI module (`module=`, a documented argument).

For the few writes on every chat turn's path there is `in_one_trip`: a whole transaction of Core statements
(compiled once by SQLAlchemy, bound with its own type processors) runs and commits in a single trip, as
PostgreSQL runs them in a single statement (app/services/chat_pg.py).
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement, Select
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

T = TypeVar("T")

# description, rows, rowcount, lastrowid: what SQLAlchemy reads off a cursor after it ran.
_Outcome = tuple[Any, list[Any], int, int | None]


def _run(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    # On the connection's thread: the whole life of a cursor, so that nothing has to cross back for it.
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        # Read after the rows: SQLite counts the rows an INSERT ... RETURNING wrote only once they are fetched.
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor: the statement's rows, description and counts, fetched in one trip."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # The base class opens an aiosqlite cursor here (a trip of its own); this one opens none.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]  # None before an INSERT, as in sqlite3

    async def _async_soft_close(self) -> None:
        # Nothing to close on the thread: the sqlite3 cursor closed when the statement finished.
        return None

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._trip(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        self._trip(operation, seq_of_parameters, many=True)

    def _trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        try:
            trip = connection._execute(_run, connection._conn, operation, parameters, many)  # type: ignore[no-untyped-call]
            outcome: _Outcome = await_(trip)
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor  # type: ignore[assignment]  # a subclass; SQLAlchemy's annotation is exact

    def _idle(self) -> bool:
        # No transaction open: sqlite3 begins one only before a write, so a read-only checkout never has one.
        # (`in_transaction` reads SQLite's autocommit flag; it is safe off the connection's thread, and nothing
        # else runs on this connection while SQLAlchemy holds it.)
        conn: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        return conn._connection is not None and not conn._conn.in_transaction

    def commit(self) -> None:
        # Nothing to commit is not worth a trip (a pool checkout ends with one otherwise).
        if not self._idle():
            super().commit()

    def rollback(self) -> None:
        if not self._idle():
            super().rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DBAPI shim whose connections hand out `OneTripCursor`s."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


# ----------------------------------------------------------------------------- a transaction in one trip

# (SQL, bind names in order, their type processors) per statement and set of given keys, per dialect: the
# dialect holds the engine's JSON serialiser, which the JSON columns' processors use.
_Compiled = tuple[str, list[str], list[Callable[[Any], Any] | None], Any]
_compiled: weakref.WeakKeyDictionary[Dialect, dict[tuple[int, tuple[str, ...]], _Compiled]] = (
    weakref.WeakKeyDictionary()
)


_write_locks: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()


def _compile(dialect: Dialect, statement: ClauseElement, keys: tuple[str, ...]) -> _Compiled:
    cache = _compiled.setdefault(dialect, {})
    key = (id(statement), keys)
    found = cache.get(key)
    if found is None:
        compiled: Any = statement.compile(dialect=dialect, column_keys=list(keys))
        names = list(compiled.positiontup or [])
        processors = [compiled.binds[name].type.bind_processor(dialect) for name in names]
        found = cache[key] = (compiled.string, names, processors, compiled)
    return found


_result_types: weakref.WeakKeyDictionary[Dialect, dict[int, list[Callable[[Any], Any] | None]]] = (
    weakref.WeakKeyDictionary()
)


def _result_processors(dialect: Dialect, statement: Select[Any]) -> list[Callable[[Any], Any] | None]:
    cache = _result_types.setdefault(dialect, {})
    found = cache.get(id(statement))
    if found is None:
        found = cache[id(statement)] = [
            column.type.result_processor(dialect, None) for column in statement.selected_columns
        ]
    return found


class Statements:
    """Core statements run on a sqlite3 connection, on its own thread: what a function given to `in_one_trip`
    uses. Rows come back as plain tuples: `all` and `scalar` process no result types (use them for ids, counts
    and text), `first` does."""

    def __init__(self, db: sqlite3.Connection, dialect: Dialect) -> None:
        self._db = db
        self._dialect = dialect

    def all(self, statement: ClauseElement, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        sql, names, processors, compiled = _compile(self._dialect, statement, tuple(values))
        bound = compiled.construct_params(values)
        params = [
            bound[name] if process is None else process(bound[name])
            for name, process in zip(names, processors, strict=True)
        ]
        cursor = self._db.execute(sql, params)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    def first(self, statement: Select[Any], values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of a SELECT, its values processed by the columns' types (JSON decoded), or None."""
        rows = self.all(statement, values)
        if not rows:
            return None
        processors = _result_processors(self._dialect, statement)
        return tuple(v if process is None else process(v) for v, process in zip(rows[0], processors, strict=True))

    def scalar(self, statement: ClauseElement, values: Mapping[str, Any]) -> Any:
        rows = self.all(statement, values)
        return rows[0][0] if rows else None

    def each(self, statement: ClauseElement, many: Iterable[Mapping[str, Any]]) -> None:
        for values in many:
            self.all(statement, values)


async def in_one_trip(conn: AsyncConnection, work: Callable[[Statements], T]) -> T:
    """Run `work` and commit, all in one trip to the connection's thread; roll back if it raises. Errors come
    back as SQLAlchemy's (`IntegrityError` and so on), with no parameters in them. `conn` must hold no
    uncommitted writes of its own: they would be committed with these."""
    driver = cast(aiosqlite.Connection, (await conn.get_raw_connection()).driver_connection)
    dialect = conn.dialect
    lock = _write_locks.setdefault(conn.sync_engine, asyncio.Lock())

    def trip(db: sqlite3.Connection) -> T:
        try:
            result = work(Statements(db, dialect))
            db.commit()
        except BaseException:
            db.rollback()
            raise
        return result

    try:
        # One at a time per process: SQLite has one writer, and two trips racing for its lock would have the
        # loser poll for it (the busy handler's sleeps of 1 to 100 ms) instead of waiting here for its turn.
        async with lock:
            return await driver._execute(trip, driver._conn)  # type: ignore[no-any-return,no-untyped-call]
    except sqlite3.Error as error:
        raise DBAPIError.instance(None, None, error, sqlite3.Error, hide_parameters=True) from error
