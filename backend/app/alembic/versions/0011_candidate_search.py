"""resume intake (intake_batches, intake_jobs) and candidate full-text search: candidates.search_terms with a
GIN index (PostgreSQL) or an FTS5 table (SQLite)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

On SQLite the FTS5 table is kept in sync by triggers on `candidates`. A later batch migration that rebuilds
`candidates` drops those triggers with the old table: it must create them again (`SQLITE_TRIGGERS`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models import UTCDateTime
from app.services.search import substring_text, terms

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_TRIGGERS = (
    """CREATE TRIGGER candidates_fts_insert AFTER INSERT ON candidates BEGIN
        INSERT INTO candidate_fts(rowid, search_terms) VALUES (new.id, new.search_terms);
    END""",
    """CREATE TRIGGER candidates_fts_delete AFTER DELETE ON candidates BEGIN
        INSERT INTO candidate_fts(candidate_fts, rowid, search_terms) VALUES ('delete', old.id, old.search_terms);
    END""",
    """CREATE TRIGGER candidates_fts_update AFTER UPDATE OF search_terms ON candidates BEGIN
        INSERT INTO candidate_fts(candidate_fts, rowid, search_terms) VALUES ('delete', old.id, old.search_terms);
        INSERT INTO candidate_fts(rowid, search_terms) VALUES (new.id, new.search_terms);
    END""",
)

CANDIDATES = sa.table(
    "candidates",
    sa.column("id", sa.Integer()),
    sa.column("full_name", sa.String()),
    sa.column("position", sa.String()),
    sa.column("city", sa.String()),
    sa.column("skills", sa.JSON()),
    sa.column("resume_text", sa.Text()),
    sa.column("email", sa.String()),
    sa.column("search_terms", sa.Text()),
    sa.column("search_text", sa.Text()),
)


def _backfill() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(
            CANDIDATES.c.id,
            CANDIDATES.c.full_name,
            CANDIDATES.c.email,
            CANDIDATES.c.position,
            CANDIDATES.c.city,
            CANDIDATES.c.skills,
            CANDIDATES.c.resume_text,
        )
    ).all()
    for row in rows:
        text = "\n".join(
            [row.full_name or "", row.position or "", row.city or "", *(row.skills or []), row.resume_text or ""]
        )
        connection.execute(
            CANDIDATES.update()
            .where(CANDIDATES.c.id == row.id)
            .values(
                search_terms=" ".join(terms(text)),
                search_text=substring_text(row.full_name, row.email, row.position, row.skills),
            )
        )


def _create_intake() -> None:
    op.create_table(
        "intake_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_intake_batches_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_batches")),
    )
    op.create_index(op.f("ix_intake_batches_created_by_id"), "intake_batches", ["created_by_id"])
    op.create_table(
        "intake_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("stored_file", sa.String(length=255), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("contacts", sa.JSON(), nullable=True),
        sa.Column("draft", sa.JSON(), nullable=True),
        sa.Column("provider", sa.String(length=32), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.JSON(), nullable=True),
        sa.Column("candidate_id", sa.Integer(), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["intake_batches.id"], name=op.f("fk_intake_jobs_batch_id_intake_batches"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidates.id"],
            name=op.f("fk_intake_jobs_candidate_id_candidates"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_jobs")),
    )
    op.create_index(op.f("ix_intake_jobs_batch_id"), "intake_jobs", ["batch_id"])
    op.create_index(op.f("ix_intake_jobs_candidate_id"), "intake_jobs", ["candidate_id"])
    op.create_index("ix_intake_jobs_state_lease", "intake_jobs", ["state", "lease_until"])


def _create_shortlist() -> None:
    op.create_table(
        "embeddings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=True),
        sa.Column("vacancy_id", sa.Integer(), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"], ["candidates.id"], name=op.f("fk_embeddings_candidate_id_candidates"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["vacancy_id"], ["vacancies.id"], name=op.f("fk_embeddings_vacancy_id_vacancies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_embeddings")),
    )
    op.create_index("ix_embeddings_candidate_model", "embeddings", ["candidate_id", "model"], unique=True)
    op.create_index("ix_embeddings_vacancy_model", "embeddings", ["vacancy_id", "model"], unique=True)
    op.create_table(
        "shortlist_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vacancy_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("matched_skills", sa.JSON(), nullable=False),
        sa.Column("missing_skills", sa.JSON(), nullable=False),
        sa.Column("analysis_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vacancy_id"], ["vacancies.id"], name=op.f("fk_shortlist_entries_vacancy_id_vacancies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidates.id"],
            name=op.f("fk_shortlist_entries_candidate_id_candidates"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["analysis_id"],
            ["analyses.id"],
            name=op.f("fk_shortlist_entries_analysis_id_analyses"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shortlist_entries")),
    )
    op.create_index(op.f("ix_shortlist_entries_candidate_id"), "shortlist_entries", ["candidate_id"])
    op.create_index("ix_shortlist_entries_vacancy_rank", "shortlist_entries", ["vacancy_id", "rank"])


def upgrade() -> None:
    _create_intake()
    _create_shortlist()
    with op.batch_alter_table("candidates") as batch_op:
        batch_op.add_column(sa.Column("search_terms", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("search_text", sa.Text(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        # A stored vector (not an expression index): ranking reads it instead of re-parsing every matching text.
        op.execute(
            "ALTER TABLE candidates ADD COLUMN search_vector tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple', coalesce(search_terms, ''))) STORED"
        )
        op.execute("CREATE INDEX ix_candidates_search ON candidates USING gin (search_vector)")
        # Substring search ("contains", any position) on name/email/position/skills through trigrams.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_candidates_search_text ON candidates USING gin (search_text gin_trgm_ops)")
        _backfill()
    else:
        _backfill()
        op.execute(
            "CREATE VIRTUAL TABLE candidate_fts USING fts5("
            "search_terms, content='candidates', content_rowid='id', tokenize='unicode61')"
        )
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
        # Substring search scans this small covering index instead of the table's rows (resumes included).
        op.execute("CREATE INDEX ix_candidates_search_text ON candidates (search_text)")
        op.execute("INSERT INTO candidate_fts(candidate_fts) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_candidates_search_text")
        op.execute("DROP INDEX IF EXISTS ix_candidates_search")
        op.execute("ALTER TABLE candidates DROP COLUMN IF EXISTS search_vector")
    else:
        op.execute("DROP INDEX IF EXISTS ix_candidates_search_text")
        for name in ("candidates_fts_insert", "candidates_fts_delete", "candidates_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS candidate_fts")
    with op.batch_alter_table("candidates") as batch_op:
        batch_op.drop_column("search_text")
        batch_op.drop_column("search_terms")
    op.drop_table("shortlist_entries")
    op.drop_table("embeddings")
    op.drop_table("intake_jobs")
    op.drop_table("intake_batches")
