"""Run Alembic migrations from code (CLI and tests), on an async engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

SCRIPT_LOCATION = Path(__file__).resolve().parent.parent / "alembic"

UNMANAGED_TABLE_PREFIXES = ("candidate_fts",)
"""The full-text index tables, not described by the models: SQLite's FTS5 table and its shadow tables
(migration 0011), PostgreSQL's tsvector side table (migration 0012)."""
UNMANAGED_INDEXES = frozenset({"ix_candidates_search_text"})
"""PostgreSQL's trigram GIN index and SQLite's covering index for substring search: created by migration 0011."""
UNMANAGED_COLUMNS: frozenset[str] = frozenset()
"""Columns only migrations manage (none at head since 0012 moved PostgreSQL's tsvector to `candidate_fts`)."""


def include_object(_obj: object, name: str | None, type_: str, reflected: bool, _compare_to: object) -> bool:
    """Autogenerate's filter: the search objects that only migrations manage are neither added nor dropped."""
    if not reflected or name is None:
        return True
    if type_ == "table" and name.startswith(UNMANAGED_TABLE_PREFIXES):
        return False
    if type_ == "column" and name in UNMANAGED_COLUMNS:
        return False
    return not (type_ == "index" and name in UNMANAGED_INDEXES)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def _run(engine: AsyncEngine, step: Callable[[Connection], None]) -> None:
    async with engine.connect() as connection:
        try:
            async with connection.begin():
                await connection.run_sync(step)
        finally:
            if connection.dialect.name == "sqlite":
                # env.py switched foreign keys off on this connection; it must not go back to the pool.
                await connection.invalidate()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _run(engine, lambda conn: command.upgrade(alembic_config(conn), revision))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _run(engine, lambda conn: command.downgrade(alembic_config(conn), revision))
