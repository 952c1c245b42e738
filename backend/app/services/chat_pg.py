"""PostgreSQL's chat turn: each of the turn's two writes as one statement through the driver.

A turn writes twice: before the provider is called (the question under its lease, with the quota reservation)
and after (the question answered, the reply, its audit row, the usage). On PostgreSQL each is one statement of
data-modifying CTEs, so it is one round trip and atomic by itself; through SQLAlchemy they were about ten
statements, each a round trip and a few hundred microseconds of CPU. SQLite has no data-modifying CTEs: it takes
the Core statements in `app.services.chat`, which do the same in its one transaction.

Every value is a bind parameter; only names made here (CTE aliases, placeholders) are put into the text.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

import orjson
from sqlalchemy import BindParameter, Select, literal_column
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.sql.visitors import ExternallyTraversible, replacement_traverse

from app.models import MessageStatus, Role
from app.services import chat_sqlite

_USAGE = ("requests", "failures", "prompt_tokens", "completion_tokens")


class _Params:
    """Bind parameters in order, each used through its `$n` placeholder."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any, cast: str) -> str:
        self.values.append(value)
        return f"${len(self.values)}::{cast}"


_CANDIDATE_ID = "__candidate_id__"


def _turn_candidate_sql() -> str:
    """`chat_sqlite.TURN_CANDIDATE` as PostgreSQL text, its candidate id `_CANDIDATE_ID` (replaced by the
    statement's own placeholder) and its LIMIT 1 inline: the same query on both databases, written once."""
    by_placeholder: ColumnClause[int] = literal_column(_CANDIDATE_ID)

    def swap(element: ExternallyTraversible, **_: Any) -> ExternallyTraversible | None:
        return by_placeholder if isinstance(element, BindParameter) and element.key == "candidate_id" else None

    statement = cast(Select[Any], replacement_traverse(chat_sqlite.TURN_CANDIDATE, {}, swap))
    dialect = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


_CANDIDATE = _turn_candidate_sql()
CANDIDATE_COLUMNS = len(chat_sqlite.TURN_CANDIDATE.selected_columns)


def question_statement(
    *,
    candidate_id: int,
    content: str,
    created_at: datetime,
    lease: tuple[str, datetime],
    day: date,
    reservations: list[tuple[str, int]],
    history: int,
) -> tuple[str, list[Any]]:
    """The candidate read for the prompt; the question stored (pending, under this process's lease), each
    limited provider's request reserved (the same conditional upsert as `telemetry._reserve`: the row lock
    makes it exact across instances), and the `history` messages before the question for the prompt, newest
    first. Every write selects from the candidate's row, so with no such candidate nothing is written.

    Returns one row, or none if there is no such candidate: the question's id, then one count per reservation
    (NULL: the limit was reached), then the history as a JSON array of [role, content], then the candidate's
    `CANDIDATE_COLUMNS` columns. The history is read from the statement's snapshot, which does not contain the
    question itself."""
    p = _Params()
    candidate = p(candidate_id, "integer")
    ctes = [
        f"tc AS ({_CANDIDATE.replace(_CANDIDATE_ID, candidate)})",
        "m AS (INSERT INTO chat_messages (candidate_id, role, content, created_at, status, lease_owner, "
        f"lease_expires_at) SELECT tc.id, '{Role.USER.value}', {p(content, 'text')}, "
        f"{p(created_at, 'timestamptz')}, '{MessageStatus.PENDING.value}', {p(lease[0], 'text')}, "
        f"{p(lease[1], 'timestamptz')} FROM tc RETURNING id)",
    ]
    columns = ["(SELECT id FROM m)"]
    if reservations:
        today = p(day, "date")
        for i, (provider, limit) in enumerate(reservations):
            ctes.append(
                f"u{i} AS (INSERT INTO provider_usage (day, provider, requests, failures, prompt_tokens, "
                f"completion_tokens) SELECT {today}, {p(provider, 'text')}, 1, 0, 0, 0 FROM tc "
                "ON CONFLICT (day, provider) DO UPDATE SET requests = provider_usage.requests + 1 "
                f"WHERE provider_usage.requests < {p(limit, 'integer')} RETURNING requests)"
            )
            columns.append(f"(SELECT requests FROM u{i})")
    columns.append(
        "(SELECT json_agg(json_build_array(h.role, h.content) ORDER BY h.created_at DESC, h.id DESC) FROM "
        f"(SELECT id, role, content, created_at FROM chat_messages WHERE candidate_id = {candidate} "
        f"ORDER BY created_at DESC, id DESC LIMIT {p(history, 'integer')}) h)"
    )
    columns.append("tc.*")
    return f"WITH {', '.join(ctes)} SELECT {', '.join(columns)} FROM tc", p.values


def recent_history(value: str | list[list[str]] | None) -> list[tuple[str, str]]:
    """The history column of `question_statement`, as (role, content) pairs, newest first. (The engine's asyncpg
    connections decode JSON themselves; a bare asyncpg connection gives the text.)"""
    pairs: list[list[str]] = orjson.loads(value) if isinstance(value, str) else value or []
    return [(role, content) for role, content in pairs]


def reply_statement(
    *,
    question_id: int,
    candidate_id: int,
    reply: dict[str, Any],
    actor: tuple[int, str],
    day: date,
    usage: dict[str, dict[str, int]],
) -> tuple[str, list[Any]]:
    """The question answered (lease cleared), the reply stored, its `ai.chat` audit row (the same row
    `chat.audit_reply` writes) and the turn's usage added (`telemetry._add_usage`'s upsert). Returns the
    reply's id."""
    p = _Params()
    question = p(question_id, "integer")
    candidate = p(candidate_id, "integer")
    at = p(reply["created_at"], "timestamptz")
    provider = p(reply["provider"], "text")
    model = p(reply["model"], "text")
    ctes = [
        f"q AS (UPDATE chat_messages SET status = '{MessageStatus.OK.value}', error = NULL, lease_owner = NULL, "
        f"lease_expires_at = NULL WHERE id = {question})",
        "r AS (INSERT INTO chat_messages (candidate_id, role, content, created_at, status, provider, model, "
        "prompt_tokens, completion_tokens, latency_ms, ttft_ms, reply_to_id, attempts) VALUES "
        f"({candidate}, '{Role.ASSISTANT.value}', {p(reply['content'], 'text')}, {at}, "
        f"'{MessageStatus.OK.value}', {provider}, {model}, {p(reply['prompt_tokens'], 'integer')}, "
        f"{p(reply['completion_tokens'], 'integer')}, {p(reply['latency_ms'], 'integer')}, "
        f"{p(reply['ttft_ms'], 'integer')}, {question}, {p(orjson.dumps(reply['attempts']).decode(), 'json')}) "
        "RETURNING id)",
        "a AS (INSERT INTO audit_events (at, actor_id, actor_email, action, entity_type, entity_id, details) "
        f"SELECT {at}, {p(actor[0], 'integer')}, {p(actor[1], 'text')}, 'ai.chat', 'candidate', {candidate}, "
        f"json_build_object('message_id', r.id, 'provider', {provider}, 'model', {model}) FROM r)",
    ]
    if usage:
        today = p(day, "date")
        rows = ", ".join(
            f"({today}, {p(name, 'text')}, " + ", ".join(p(values[c], "integer") for c in _USAGE) + ")"
            for name, values in usage.items()
        )
        ctes.append(
            f"u AS (INSERT INTO provider_usage (day, provider, {', '.join(_USAGE)}) VALUES {rows} "
            "ON CONFLICT (day, provider) DO UPDATE SET "
            + ", ".join(f"{c} = provider_usage.{c} + excluded.{c}" for c in _USAGE)
            + ")"
        )
    return f"WITH {', '.join(ctes)} SELECT id FROM r", p.values
