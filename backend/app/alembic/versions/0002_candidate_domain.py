"""vacancies, candidate pipeline and resume fields, stage history, AI analyses

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Existing candidates keep every row and every chat message: new candidate columns are nullable or have a
server default (stage `new`, no skills), and the normalised email/phone used for duplicate detection are
filled in from the stored values.
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Frozen copies of the app's normalisation as of this revision: a migration must not change meaning
# when the application code evolves.
def _normalize_email(value: str | None) -> str | None:
    text = (value or "").strip().lower()
    return text or None


def _normalize_phone(value: str | None) -> str | None:
    digits = re.sub(r"\D", "", value or "")
    if len(digits) == 11 and digits[0] == "8":
        digits = "7" + digits[1:]
    elif len(digits) == 10:
        digits = "7" + digits
    return digits if len(digits) >= 7 else None


def upgrade() -> None:
    op.create_table(
        "vacancies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("requirements", sa.Text(), nullable=True),
        sa.Column("key_skills", sa.JSON(), server_default=sa.text("'[]'"), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("created_at", app.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vacancies")),
    )

    # On SQLite this rebuilds `candidates` (a constraint cannot be added to an existing table there);
    # env.py turns foreign keys off for migrations, so dropping the old table does not cascade into
    # chat_messages. Elsewhere these are plain ALTER TABLE statements.
    with op.batch_alter_table("candidates") as batch:
        batch.add_column(sa.Column("city", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("source", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("vacancy_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("stage", sa.String(length=16), server_default="new", nullable=False))
        batch.add_column(sa.Column("rejection_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("skills", sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
        batch.add_column(sa.Column("notes", sa.Text(), nullable=True))
        batch.add_column(sa.Column("resume_file", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("resume_filename", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("resume_content_type", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("resume_size", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("resume_uploaded_at", app.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("email_normalized", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("phone_normalized", sa.String(length=32), nullable=True))
        batch.create_foreign_key(
            op.f("fk_candidates_vacancy_id_vacancies"), "vacancies", ["vacancy_id"], ["id"], ondelete="SET NULL"
        )
    op.create_index(op.f("ix_candidates_vacancy_id"), "candidates", ["vacancy_id"], unique=False)
    op.create_index(op.f("ix_candidates_stage"), "candidates", ["stage"], unique=False)
    op.create_index(op.f("ix_candidates_email_normalized"), "candidates", ["email_normalized"], unique=False)
    op.create_index(op.f("ix_candidates_phone_normalized"), "candidates", ["phone_normalized"], unique=False)

    candidates = sa.table(
        "candidates",
        sa.column("id", sa.Integer()),
        sa.column("email", sa.String()),
        sa.column("phone", sa.String()),
        sa.column("email_normalized", sa.String()),
        sa.column("phone_normalized", sa.String()),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(candidates.c.id, candidates.c.email, candidates.c.phone)).all()
    for row in rows:
        bind.execute(
            candidates.update()
            .where(candidates.c.id == row.id)
            .values(email_normalized=_normalize_email(row.email), phone_normalized=_normalize_phone(row.phone))
        )

    op.create_table(
        "stage_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("from_stage", sa.String(length=16), nullable=True),
        sa.Column("to_stage", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("changed_by", sa.String(length=200), nullable=True),
        sa.Column("changed_at", app.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidates.id"],
            name=op.f("fk_stage_changes_candidate_id_candidates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_changes")),
    )
    op.create_index(
        "ix_stage_changes_candidate_changed", "stage_changes", ["candidate_id", "changed_at", "id"], unique=False
    )

    op.create_table(
        "analyses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("vacancy_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("prompt_version", sa.String(length=32), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.JSON(), nullable=True),
        sa.Column("dropped_quotes", sa.Integer(), nullable=False),
        sa.Column("created_at", app.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidates.id"],
            name=op.f("fk_analyses_candidate_id_candidates"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["vacancy_id"],
            ["vacancies.id"],
            name=op.f("fk_analyses_vacancy_id_vacancies"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analyses")),
    )
    op.create_index("ix_analyses_candidate_created", "analyses", ["candidate_id", "created_at", "id"], unique=False)
    op.create_index(op.f("ix_analyses_vacancy_id"), "analyses", ["vacancy_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_analyses_vacancy_id"), table_name="analyses")
    op.drop_index("ix_analyses_candidate_created", table_name="analyses")
    op.drop_table("analyses")
    op.drop_index("ix_stage_changes_candidate_changed", table_name="stage_changes")
    op.drop_table("stage_changes")

    op.drop_index(op.f("ix_candidates_phone_normalized"), table_name="candidates")
    op.drop_index(op.f("ix_candidates_email_normalized"), table_name="candidates")
    op.drop_index(op.f("ix_candidates_stage"), table_name="candidates")
    op.drop_index(op.f("ix_candidates_vacancy_id"), table_name="candidates")
    with op.batch_alter_table("candidates") as batch:
        batch.drop_constraint(op.f("fk_candidates_vacancy_id_vacancies"), type_="foreignkey")
        for name in (
            "phone_normalized",
            "email_normalized",
            "resume_uploaded_at",
            "resume_size",
            "resume_content_type",
            "resume_filename",
            "resume_file",
            "notes",
            "skills",
            "rejection_reason",
            "stage",
            "vacancy_id",
            "source",
            "city",
        ):
            batch.drop_column(name)
    op.drop_table("vacancies")
