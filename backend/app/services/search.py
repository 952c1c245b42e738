"""Full-text search over candidates, resumes included, with Russian word forms, ranked, on both databases.

One stemmer for both backends: every candidate keeps `search_terms`, the Snowball stems (Russian for Cyrillic
words, English for Latin ones) of their name, position, city, skills and resume, recomputed whenever one of
those fields changes. Both backends index it in a table `candidate_fts` kept in sync by triggers on
`candidates`: on PostgreSQL a narrow side table of its `tsvector`, stored inline and GIN-indexed (migration
0012 says why), ranked with `ts_rank_cd`; on SQLite an FTS5 table, ranked with bm25. Because the
stemming happens here and not in the database, «разработчик» finds «разработчика» identically on both, and
the query is stemmed by the same code as the documents.

Contacts are not stemmed: substring search ("contains", `%`/`_` literal) on the name, email, position and skills
reads `search_text`, the same fields lowered once on write (trigram-indexed on PostgreSQL; on SQLite a plain
LIKE over it avoids calling a Python lower() on every row). Search terms are never logged.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import snowballstemmer
from sqlalchemy import Float, Select, case, cast, event, func, inspect, literal_column, select, table, union_all
from sqlalchemy.orm import Mapper
from sqlalchemy.sql import column
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CTE

from app.core.db import LIKE_ESCAPE, like_pattern
from app.models import Candidate

INDEXED_FIELDS = ("full_name", "position", "city", "skills", "resume_text")
SUBSTRING_FIELDS = ("full_name", "email", "position", "skills")
MAX_TOKEN_CHARS = 40
MAX_QUERY_TERMS = 12
FTS_TABLE = "candidate_fts"
"""The full-text index of `candidates.search_terms`: SQLite's FTS5 table (migration 0011), PostgreSQL's
`(id, search_vector)` side table (migration 0012)."""

_WORD = re.compile(r"[^\W_]+")
_CYRILLIC = re.compile(r"[а-я]")


@lru_cache(maxsize=1)
def _stemmers() -> tuple[Any, Any]:
    return snowballstemmer.stemmer("russian"), snowballstemmer.stemmer("english")


def terms(text: str) -> list[str]:
    """The stems of the words of `text`, in order (ё is folded into е, case ignored)."""
    russian, english = _stemmers()
    out: list[str] = []
    for word in _WORD.findall(text.lower().replace("ё", "е")):
        if len(word) > MAX_TOKEN_CHARS:
            continue
        if _CYRILLIC.search(word):
            out.append(russian.stemWord(word))
        elif word.isascii() and word.isalpha():
            out.append(english.stemWord(word))
        else:
            out.append(word)
    return out


def document(candidate: Candidate) -> str:
    parts: list[str] = [candidate.full_name or "", candidate.position or "", candidate.city or ""]
    parts.extend(candidate.skills or [])
    parts.append(candidate.resume_text or "")
    return " ".join(terms("\n".join(parts)))


def substring_text(full_name: str | None, email: str | None, position: str | None, skills: list[str] | None) -> str:
    """The lowered fields substring search reads, one per line (a pattern never spans two fields)."""
    return "\n".join(part.lower() for part in [full_name or "", email or "", position or "", *(skills or [])])


def query_terms(q: str | None) -> list[str]:
    """Distinct stems of a search, in the order typed."""
    return list(dict.fromkeys(terms(q or "")))[:MAX_QUERY_TERMS]


def _fts5_query(stems: list[str]) -> str:
    # Every word must occur; the last one may still be being typed, so it also matches as a prefix.
    quoted = [f'"{s}"' for s in stems]
    quoted[-1] += "*"
    return " ".join(quoted)


def _tsquery(stems: list[str]) -> str:
    return " & ".join([*stems[:-1], f"{stems[-1]}:*"])


def _ranked(dialect: str, stems: list[str]) -> Select[Any]:
    """(id, score) of the candidates whose indexed text holds every stem; a higher score ranks first."""
    if dialect == "postgresql":
        config: ColumnElement[Any] = literal_column("'simple'::regconfig")
        side = table(FTS_TABLE, column("id"), column("search_vector"))
        query = func.to_tsquery(config, _tsquery(stems))
        return select(side.c.id.label("id"), func.ts_rank_cd(side.c.search_vector, query).label("score")).where(
            side.c.search_vector.op("@@")(query)
        )
    fts = table(FTS_TABLE, column("rowid"), column("rank"))
    return select(fts.c.rowid.label("id"), (-fts.c.rank).label("score")).where(
        literal_column(FTS_TABLE).op("MATCH")(_fts5_query(stems))
    )


def matches(dialect: str, q: str) -> CTE:
    """(id, score) of every candidate the search finds: a full-text match (scored by its rank) or a substring
    of the name, email, position or skills (score 0 unless it also matches the full text).

    Each half is answered by an index (FTS5 / tsvector GIN; `search_text` trigram GIN on PostgreSQL, a plain
    LIKE over the short lowered column on SQLite), and the union is materialized once: the list query joins
    that small set and counts it in the same pass."""
    pattern = like_pattern(q)
    # The name is the first line of `search_text`: a name match is read from the same (covering) index.
    needle = q.strip().lower()
    if dialect == "postgresql":
        name_line: ColumnElement[Any] = func.split_part(Candidate.search_text, "\n", 1)
        in_name = func.strpos(name_line, needle) > 0
    else:
        name_end = func.instr(Candidate.search_text + "\n", "\n") - 1
        in_name = func.instr(func.substr(Candidate.search_text, 1, name_end), needle) > 0
    name_hit = case((in_name, 1), else_=0)
    substring = select(
        Candidate.id.label("id"), cast(literal_column("0"), Float).label("score"), name_hit.label("name_hit")
    ).where(Candidate.search_text.like(pattern, escape=LIKE_ESCAPE))
    stems = query_terms(q)
    if stems:
        ranked = _ranked(dialect, stems).add_columns(literal_column("0").label("name_hit"))
        found = union_all(ranked, substring).subquery()
    else:
        found = substring.subquery()
    return (
        select(found.c.id, func.max(found.c.score).label("score"), func.max(found.c.name_hit).label("name_hit"))
        .group_by(found.c.id)
        .cte("search_hits")
        .prefix_with("MATERIALIZED")
    )


def _refresh(candidate: Candidate, *, only_if_changed: bool) -> None:
    state = inspect(candidate)

    def changed(fields: tuple[str, ...]) -> bool:
        return not only_if_changed or any(state.attrs[name].history.has_changes() for name in fields)

    if changed(INDEXED_FIELDS):
        candidate.search_terms = document(candidate)
    if changed(SUBSTRING_FIELDS):
        candidate.search_text = substring_text(
            candidate.full_name, candidate.email, candidate.position, candidate.skills
        )


@event.listens_for(Candidate, "before_insert")
def _before_insert(_mapper: Mapper[Candidate], _connection: Any, target: Candidate) -> None:
    _refresh(target, only_if_changed=False)


@event.listens_for(Candidate, "before_update")
def _before_update(_mapper: Mapper[Candidate], _connection: Any, target: Candidate) -> None:
    _refresh(target, only_if_changed=True)
