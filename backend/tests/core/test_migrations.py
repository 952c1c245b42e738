"""Migrations on SQLite and PostgreSQL: the newest revision matches the models, and 0002 keeps every row
0001 stored (and so does going back)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import migrations
from app.models import Base, Candidate, UTCDateTime
from tests.utils.app import Database

CREATED = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)

# The two tables exactly as revision 0001 created them.
CANDIDATES_0001 = sa.table(
    "candidates",
    sa.column("id", sa.Integer()),
    sa.column("full_name", sa.String()),
    sa.column("email", sa.String()),
    sa.column("phone", sa.String()),
    sa.column("position", sa.String()),
    sa.column("resume_text", sa.Text()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
MESSAGES_0001 = sa.table(
    "chat_messages",
    sa.column("id", sa.Integer()),
    sa.column("candidate_id", sa.Integer()),
    sa.column("role", sa.String()),
    sa.column("content", sa.Text()),
    sa.column("created_at", UTCDateTime()),
    sa.column("status", sa.String()),
    sa.column("reply_to_id", sa.Integer()),
)


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": migrations.include_object}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_head_matches_the_models(database: Database) -> None:
    async with database.engine.connect() as connection:
        assert await connection.run_sync(_diff) == []


async def _count(database: Database, table: str) -> int:
    return int(await database.scalar(f"SELECT count(*) FROM {table}"))


async def test_0002_keeps_candidates_and_chats_stored_by_0001(database: Database) -> None:
    try:
        await migrations.downgrade(database.engine, "0001")
        database.admin_token = None  # accounts come in a later revision
        async with database.engine.begin() as connection:
            await connection.execute(
                CANDIDATES_0001.insert(),
                [
                    {
                        "id": 1,
                        "full_name": "Анна Смирнова",
                        "email": " Anna.Smirnova@Example.com ",
                        "phone": "8 (912) 345-67-89",
                        "position": "Аналитик",
                        "resume_text": "SQL, Python",
                        "created_at": CREATED,
                        "updated_at": CREATED,
                    },
                    {
                        "id": 2,
                        "full_name": "Без контактов",
                        "email": None,
                        "phone": None,
                        "position": None,
                        "resume_text": None,
                        "created_at": CREATED,
                        "updated_at": CREATED,
                    },
                ],
            )
            await connection.execute(
                MESSAGES_0001.insert(),
                [
                    {"id": 1, "candidate_id": 1, "role": "user", "content": "Вопрос", "created_at": CREATED,
                     "status": "ok", "reply_to_id": None},
                    {"id": 2, "candidate_id": 1, "role": "assistant", "content": "Ответ", "created_at": CREATED,
                     "status": "ok", "reply_to_id": 1},
                    {"id": 3, "candidate_id": 2, "role": "user", "content": "Ещё", "created_at": CREATED,
                     "status": "failed", "reply_to_id": None},
                ],
            )  # fmt: skip

        await migrations.upgrade(database.engine)

        async with AsyncSession(database.engine) as session:
            anna, bare = (await session.scalars(sa.select(Candidate).order_by(Candidate.id))).all()
        assert (anna.full_name, anna.email, anna.phone, anna.position, anna.resume_text) == (
            "Анна Смирнова",
            " Anna.Smirnova@Example.com ",
            "8 (912) 345-67-89",
            "Аналитик",
            "SQL, Python",
        )
        assert anna.created_at == CREATED and anna.updated_at == CREATED
        assert (anna.stage, anna.skills, anna.vacancy_id, anna.resume_file) == ("new", [], None, None)
        assert (anna.email_normalized, anna.phone_normalized) == ("anna.smirnova@example.com", "79123456789")
        assert (bare.stage, bare.skills, bare.email_normalized, bare.phone_normalized) == ("new", [], None, None)
        async with database.engine.connect() as connection:
            messages = (
                await connection.execute(
                    sa.select(MESSAGES_0001.c.id, MESSAGES_0001.c.content, MESSAGES_0001.c.reply_to_id).order_by(
                        MESSAGES_0001.c.id
                    )
                )
            ).all()
        assert [tuple(m) for m in messages] == [(1, "Вопрос", None), (2, "Ответ", 1), (3, "Ещё", None)]

        # The rebuilt table still cascades: deleting a candidate deletes its messages.
        async with database.engine.begin() as connection:
            await connection.execute(sa.text("DELETE FROM candidates WHERE id = 2"))
        assert await _count(database, "chat_messages") == 2

        # And going back keeps the rows too.
        await migrations.downgrade(database.engine, "0001")
        database.admin_token = None  # accounts come in a later revision
        assert await _count(database, "candidates") == 1
        assert await _count(database, "chat_messages") == 2
    finally:
        await migrations.upgrade(database.engine)


async def test_downgrade_to_base_and_upgrade_again(database: Database) -> None:
    await migrations.downgrade(database.engine, "base")
    database.admin_token = None  # the seeded admin went with the tables
    async with database.engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    assert not {"chat_messages", "candidates", "users", "audit_events"} & set(tables)

    await migrations.upgrade(database.engine)
    async with database.engine.connect() as conn:
        indexes = await conn.run_sync(lambda sync: sa.inspect(sync).get_indexes("chat_messages"))
    assert any(ix["column_names"] == ["candidate_id", "created_at", "id"] for ix in indexes)
