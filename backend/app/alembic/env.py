"""Alembic environment: uses a connection handed in by app.core.migrations, or opens one from settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from app.core.config import get_settings
from app.core.db import create_engine
from app.core.migrations import include_object
from app.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        # Batch operations rebuild a table and DROP the old one, which on SQLite deletes (and cascades into
        # referencing tables) while foreign keys are enforced. The pragma only takes effect outside a
        # transaction, so it is set before Alembic writes anything; the connection is discarded afterwards.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(get_settings())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_async())
