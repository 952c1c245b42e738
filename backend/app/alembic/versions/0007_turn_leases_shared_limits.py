"""turn leases, shared provider limits and breakers

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chat_messages") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", app.models.UTCDateTime(), nullable=True))
        batch.create_index(batch.f("ix_chat_messages_lease_expires_at"), ["lease_expires_at"], unique=False)
    op.create_table(
        "provider_leases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_at", app.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_leases")),
    )
    op.create_index(op.f("ix_provider_leases_provider"), "provider_leases", ["provider"], unique=False)
    op.create_table(
        "provider_breakers",
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("opened_at", app.models.UTCDateTime(), nullable=True),
        sa.Column("probe_until", app.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("provider", name=op.f("pk_provider_breakers")),
    )


def downgrade() -> None:
    op.drop_table("provider_breakers")
    op.drop_index(op.f("ix_provider_leases_provider"), table_name="provider_leases")
    op.drop_table("provider_leases")
    with op.batch_alter_table("chat_messages") as batch:
        batch.drop_index(batch.f("ix_chat_messages_lease_expires_at"))
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_owner")
