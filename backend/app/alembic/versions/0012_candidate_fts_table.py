"""PostgreSQL full-text search reads a narrow side table `candidate_fts` instead of a generated column of
`candidates` (SQLite: no change, its FTS5 table of the same name stays)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

Why: 0011's `candidates.search_vector` is TOASTed (a resume's vector is about 5 KB), so the table's heap is
small and the planner, which does not cost detoasting, chose a sequential scan that detoasts every row's vector
(~50 ms over 10,000 resumes) over the GIN index; even through the index every match cost several TOAST page
reads. In `candidate_fts` the vector is stored inline (`STORAGE MAIN`): a match is one heap page, and a
sequential scan is costed at its real size, so the planner takes the GIN index. The GIN index has
`fastupdate` off: with a pending list, every search rescans the not yet merged entries until a vacuum, and our
writes are single cards and intake jobs.

The side table is kept by a trigger on `candidates` (like SQLite's FTS5 triggers); a candidate without search
terms (erased, or empty) has no row, and deleting a candidate deletes its row (foreign key cascade).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRES_SYNC_FUNCTION = """CREATE FUNCTION candidate_fts_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(NEW.search_terms, '') = '' THEN
        DELETE FROM candidate_fts WHERE id = NEW.id;
    ELSE
        INSERT INTO candidate_fts (id, search_vector) VALUES (NEW.id, to_tsvector('simple', NEW.search_terms))
        ON CONFLICT (id) DO UPDATE SET search_vector = EXCLUDED.search_vector;
    END IF;
    RETURN NULL;
END
$$"""
POSTGRES_SYNC_TRIGGER = (
    "CREATE TRIGGER candidates_fts_sync AFTER INSERT OR UPDATE OF search_terms ON candidates "
    "FOR EACH ROW EXECUTE FUNCTION candidate_fts_sync()"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TABLE candidate_fts ("
        "id integer PRIMARY KEY REFERENCES candidates (id) ON DELETE CASCADE, "
        "search_vector tsvector NOT NULL)"
    )
    op.execute("ALTER TABLE candidate_fts ALTER COLUMN search_vector SET STORAGE MAIN")
    op.execute(
        "INSERT INTO candidate_fts (id, search_vector) "
        "SELECT id, to_tsvector('simple', search_terms) FROM candidates WHERE coalesce(search_terms, '') <> ''"
    )
    op.execute(
        "CREATE INDEX ix_candidate_fts_search ON candidate_fts USING gin (search_vector) WITH (fastupdate = off)"
    )
    op.execute(POSTGRES_SYNC_FUNCTION)
    op.execute(POSTGRES_SYNC_TRIGGER)
    op.execute("ALTER TABLE candidates DROP COLUMN search_vector")  # its GIN index goes with it
    # The planner needs the new table's statistics before the first search, not after autovacuum's first visit.
    op.execute("ANALYZE candidate_fts")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS candidates_fts_sync ON candidates")
    op.execute("DROP FUNCTION IF EXISTS candidate_fts_sync()")
    op.execute("DROP TABLE IF EXISTS candidate_fts")
    op.execute(
        "ALTER TABLE candidates ADD COLUMN search_vector tsvector "
        "GENERATED ALWAYS AS (to_tsvector('simple', coalesce(search_terms, ''))) STORED"
    )
    op.execute("CREATE INDEX ix_candidates_search ON candidates USING gin (search_vector)")
