"""consents; candidates.retention_until and erased_at

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("vacancy_id", sa.Integer(), nullable=True),
        sa.Column("text_version", sa.String(length=50), nullable=False),
        sa.Column("channel", sa.String(length=50), nullable=False),
        sa.Column("given_at", app.models.UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=254), nullable=True),
        sa.Column("recorded_at", app.models.UTCDateTime(), nullable=False),
        sa.Column("withdrawn_at", app.models.UTCDateTime(), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=254), nullable=True),
        sa.ForeignKeyConstraint(
            ["candidate_id"], ["candidates.id"], name=op.f("fk_consents_candidate_id_candidates"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["vacancy_id"], ["vacancies.id"], name=op.f("fk_consents_vacancy_id_vacancies"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index(op.f("ix_consents_candidate_id"), "consents", ["candidate_id"], unique=False)
    # Adding nullable columns needs no table rebuild on SQLite, so no cascade can fire here.
    op.add_column("candidates", sa.Column("retention_until", app.models.UTCDateTime(), nullable=True))
    op.add_column("candidates", sa.Column("erased_at", app.models.UTCDateTime(), nullable=True))
    op.create_index(op.f("ix_candidates_retention_until"), "candidates", ["retention_until"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_candidates_retention_until"), table_name="candidates")
    with op.batch_alter_table("candidates") as batch:
        batch.drop_column("erased_at")
        batch.drop_column("retention_until")
    op.drop_index(op.f("ix_consents_candidate_id"), table_name="consents")
    op.drop_table("consents")
