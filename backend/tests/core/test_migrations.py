"""Alembic migrations are the schema: they match the models and can go down and up again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app.core import migrations
from app.models import Base
from tests.conftest import Database


async def test_migrated_schema_matches_the_models(database: Database) -> None:
    async with database.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata)
        )
    assert diff == []


async def test_downgrade_to_base_and_upgrade_again(database: Database) -> None:
    await migrations.downgrade(database.engine, "base")
    database.admin_token = None  # the seeded admin went with the tables
    async with database.engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    assert "chat_messages" not in tables and "candidates" not in tables

    await migrations.upgrade(database.engine)
    async with database.engine.connect() as conn:
        indexes = await conn.run_sync(lambda sync: inspect(sync).get_indexes("chat_messages"))
    assert any(ix["column_names"] == ["candidate_id", "created_at", "id"] for ix in indexes)
