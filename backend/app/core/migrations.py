"""Run Alembic migrations from code (CLI and tests), on an async engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

SCRIPT_LOCATION = Path(__file__).resolve().parent.parent / "alembic"


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
