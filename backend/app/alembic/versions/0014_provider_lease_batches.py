"""provider leases taken in batches (PostgreSQL): one round trip for every call of a process waiting for a slot

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same steps as 0013's `nexus_take_provider_lease` (lock, clear the expired, count, insert; a fresh snapshot
# per statement, `synchronous_commit` off for this transaction alone), for up to `array_length(p_leases)` slots at
# once: the first n of the given ids are inserted, n being what the capacity leaves free, and n is returned. A
# burst of calls in one process then takes its slots in a few trips instead of one trip (and one turn at the
# advisory lock) each. 0013's function stays: an instance not yet upgraded may still call it.
TAKE_MANY = """
CREATE OR REPLACE FUNCTION nexus_take_provider_leases(
    p_provider text, p_holder text, p_leases text[], p_now timestamptz, p_expires timestamptz,
    p_capacity integer, p_lock bigint
) RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    free integer;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_advisory_xact_lock(p_lock);
    DELETE FROM provider_leases WHERE provider = p_provider AND expires_at <= p_now;
    free := least(
        coalesce(array_length(p_leases, 1), 0),
        p_capacity - (SELECT count(*) FROM provider_leases WHERE provider = p_provider)
    );
    IF free <= 0 THEN
        RETURN 0;
    END IF;
    INSERT INTO provider_leases (id, provider, holder, expires_at)
    SELECT lease, p_provider, p_holder, p_expires FROM unnest(p_leases[1:free]) AS lease;
    RETURN free;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite takes slots with plain statements under its write lock
    op.execute(TAKE_MANY)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    arguments = "text, text, text[], timestamptz, timestamptz, integer, bigint"
    op.execute(f"DROP FUNCTION IF EXISTS nexus_take_provider_leases({arguments})")
