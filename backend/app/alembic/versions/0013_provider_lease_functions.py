"""provider lease functions (PostgreSQL): a shared-limiter slot taken and released with bound parameters

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Why functions: taking a slot must lock, clear expired leases, count and insert with each step seeing what was
# committed before the lock was granted. A VOLATILE PL/pgSQL function gives every statement a fresh snapshot and
# runs in the caller's one implicit transaction, so this is one round trip with bound parameters (before, it was
# a multi-statement simple-protocol query with the values quoted into its text). `synchronous_commit` is off for
# that transaction alone: a lease lives for seconds, and losing the last few lease writes in a PostgreSQL crash
# only frees slots early; it never makes a chat message less durable.
TAKE = """
CREATE OR REPLACE FUNCTION nexus_take_provider_lease(
    p_provider text, p_holder text, p_lease text, p_now timestamptz, p_expires timestamptz,
    p_capacity integer, p_lock bigint
) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_advisory_xact_lock(p_lock);
    DELETE FROM provider_leases WHERE provider = p_provider AND expires_at <= p_now;
    IF (SELECT count(*) FROM provider_leases WHERE provider = p_provider) >= p_capacity THEN
        RETURN false;
    END IF;
    INSERT INTO provider_leases (id, provider, holder, expires_at) VALUES (p_lease, p_provider, p_holder, p_expires);
    RETURN true;
END
$$
"""
RELEASE = """
CREATE OR REPLACE FUNCTION nexus_release_provider_lease(p_lease text) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    DELETE FROM provider_leases WHERE id = p_lease;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite takes a slot with plain statements under its write lock
    op.execute(TAKE)
    op.execute(RELEASE)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS nexus_release_provider_lease(text)")
    op.execute(
        "DROP FUNCTION IF EXISTS nexus_take_provider_lease(text, text, text, timestamptz, timestamptz, integer, bigint)"
    )
