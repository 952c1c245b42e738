"""candidates.owner_id (the owning recruiter) and candidates.retention_reason

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("candidates", sa.Column("retention_reason", sa.String(length=32), nullable=True))
    # batch mode: SQLite cannot add a foreign key to an existing table otherwise. The rebuild copies rows
    # without firing cascades (foreign keys are off during the copy).
    with op.batch_alter_table("candidates") as batch:
        batch.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_candidates_owner_id"), ["owner_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_candidates_owner_id_users"), "users", ["owner_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("candidates") as batch:
        batch.drop_constraint(batch.f("fk_candidates_owner_id_users"), type_="foreignkey")
        batch.drop_index(batch.f("ix_candidates_owner_id"))
        batch.drop_column("owner_id")
    op.drop_column("candidates", "retention_reason")
