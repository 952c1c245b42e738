"""SQLite's chat turn: the turn's Core statements, and each of its two writes as one trip to the database.

A turn writes twice: before the provider is called (the question under its lease, with the quota reservation)
and after (the question answered, the reply, its audit row, the usage). PostgreSQL does each in one statement
(`chat_pg`). SQLite has no data-modifying CTEs, so here each write is these Core statements one after another
and a COMMIT, run together on the connection's own thread (`sqlite_driver.in_one_trip`): one hand-off between
the event loop and that thread instead of one per statement, and SQLite's write lock held for the few
microseconds the statements take, not across awaits.

The statements are also the ones `app.services.chat` runs through SQLAlchemy where a turn is not on its quick
path (a regenerate, a failure), so every path writes the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update

from app.ai.telemetry import usage_statements
from app.core.sqlite_driver import Statements
from app.models import Analysis, AuditEvent, Candidate, ChatMessage, MessageStatus, Vacancy

MESSAGES: Table = ChatMessage.__table__  # type: ignore[assignment]
AUDIT: Table = AuditEvent.__table__  # type: ignore[assignment]

INSERT_MESSAGE = insert(MESSAGES).returning(MESSAGES.c.id)
SETTLE_QUESTION = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("question_id"))
    .values(
        status=bindparam("status"),
        error=bindparam("error"),
        lease_owner=None,
        lease_expires_at=None,
    )
)
SETTLE_FAILED = SETTLE_QUESTION.values(attempts=bindparam("attempts"))
INSERT_AUDIT = insert(AUDIT)
RECENT = (
    select(MESSAGES.c.role, MESSAGES.c.content)  # two columns as plain rows: only the text is needed
    .where(MESSAGES.c.candidate_id == bindparam("candidate_id"), MESSAGES.c.id <= bindparam("question_id"))
    .order_by(MESSAGES.c.created_at.desc(), MESSAGES.c.id.desc())
    .limit(bindparam("limit"))
)

_LATEST_ANALYSIS = (
    select(Analysis.result)
    .where(Analysis.candidate_id == Candidate.id)
    .order_by(Analysis.created_at.desc(), Analysis.id.desc())
    .limit(1)
    .correlate(Candidate)
    .scalar_subquery()
)
# The candidate as a turn's prompt needs it, with its vacancy and latest analysis: one query of plain columns,
# in the order of `chat.TurnCandidate` (`chat_pg.question_statement` runs it too, compiled for PostgreSQL).
TURN_CANDIDATE = (
    select(
        Candidate.id,
        Candidate.full_name,
        Candidate.position,
        Candidate.skills,
        Candidate.stage,
        Candidate.resume_text,
        _LATEST_ANALYSIS.label("analysis"),
        Vacancy.title,
        Vacancy.requirements,
        Vacancy.key_skills,
    )
    .select_from(Candidate)
    .outerjoin(Vacancy, Vacancy.id == Candidate.vacancy_id)
    .where(Candidate.id == bindparam("candidate_id"))
)

# The candidate's row (`TURN_CANDIDATE`), the question's id, the history and the reservation counts.
QuestionWritten = tuple[tuple[Any, ...], int, list[tuple[str, str]], dict[str, int | None]]


def question_writes(
    values: dict[str, Any], *, history: int, day: date, reservations: list[tuple[str, int]]
) -> Callable[[Statements], QuestionWritten | None]:
    """The candidate read for the prompt; then the question stored (pending, under this process's lease), the
    latest `history` messages up to it for the prompt (newest first), and each limited provider's request
    reserved (the conditional upsert of `telemetry`; SQLite's single writer makes it exact across instances).
    Returns the candidate's row, the question's id, the history as (role, content) and the new count per
    reservation (None: the limit was reached); None, with nothing written, if there is no such candidate."""
    reserve, _ = usage_statements("sqlite")

    def work(db: Statements) -> QuestionWritten | None:
        candidate = db.first(TURN_CANDIDATE, {"candidate_id": values["candidate_id"]})
        if candidate is None:
            return None
        question_id: int = db.scalar(INSERT_MESSAGE, values)
        recent = db.all(RECENT, {"candidate_id": values["candidate_id"], "question_id": question_id, "limit": history})
        counts = {
            provider: db.scalar(reserve, {"day": day, "provider": provider, "limit": limit})
            for provider, limit in reservations
        }
        return candidate, question_id, [(role, content) for role, content in recent], counts

    return work


def reply_writes(
    question_id: int,
    reply: dict[str, Any],
    audit: dict[str, Any],
    *,
    day: date,
    usage: dict[str, dict[str, int]],
) -> Callable[[Statements], int]:
    """The question answered (lease cleared), the reply stored, its `ai.chat` audit row (`audit` without the
    reply's id, which this adds to its details) and the turn's usage added. Returns the reply's id."""
    _, add = usage_statements("sqlite")

    def work(db: Statements) -> int:
        db.all(SETTLE_QUESTION, {"question_id": question_id, "status": MessageStatus.OK.value, "error": None})
        reply_id: int = db.scalar(INSERT_MESSAGE, reply)
        db.all(INSERT_AUDIT, {**audit, "details": {"message_id": reply_id, **audit["details"]}})
        db.each(add, ({"day": day, "provider": provider, **values} for provider, values in usage.items()))
        return reply_id

    return work
