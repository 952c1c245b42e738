"""A vacancy's shortlist: rank the whole candidate pool by embeddings, then analyse the best N.

Embeddings come from GigaChat Embeddings through the SDK. When GigaChat is not configured or does not answer,
the run falls back to a local embedding (hashed Snowball stems of the text, `LOCAL_MODEL`): worse at synonyms,
but it ranks by shared skills and words and needs no provider. One run uses one model for the vacancy and
every candidate, so scores are comparable.

What is embedded is contact-free: position, skills and the resume with identity and contacts cut out. Each
vector is stored with its model and the SHA-256 of its text and recomputed only when the text changes.
Vectors are float32 blobs, so this works on plain PostgreSQL (no pgvector) and SQLite; ranking multiplies an
in-process matrix of every stored vector (loaded in the background at start-up; when the stored set changes,
only the new rows are read into it) by the vacancy's vector.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, Row, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.ai.chain import ProviderChain
from app.ai.errors import ProviderError
from app.core.config import Settings
from app.core.errors import AppError, NotFound, Unprocessable
from app.models import Analysis, Candidate, Embedding, ShortlistEntry, User, Vacancy, utcnow
from app.services import analysis, audit, search
from app.services.privacy import redact_contacts, redact_identity

logger = logging.getLogger("app.shortlist")

LOCAL_MODEL = "local-stems-v1"
LOCAL_DIM = 512
EMBED_BATCH = 16
KEPT_ENTRIES = 50
"""Ranked candidates stored per run; the first `top_n` of them also get an analysis."""
VACANCY_NOT_FOUND = "Вакансия не найдена"
EMPTY_POOL = "В базе нет кандидатов с профилем или резюме: ранжировать некого"

Vector = npt.NDArray[np.float32]


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def profile_text(settings: Settings, candidate: Candidate) -> str:
    parts = [candidate.position or "", ", ".join(candidate.skills or [])]
    parts.append(redact_identity(candidate.resume_text or "", candidate.full_name))
    text = "\n".join(redact_contacts(p) for p in parts if p).strip()
    return text[: settings.SHORTLIST_PROFILE_CHARS]


def vacancy_text(settings: Settings, vacancy: Vacancy) -> str:
    parts = [vacancy.title, ", ".join(vacancy.key_skills or []), vacancy.requirements or "", vacancy.description or ""]
    return "\n".join(p for p in parts if p).strip()[: settings.SHORTLIST_PROFILE_CHARS]


def local_embedding(text: str) -> Vector:
    """Stems hashed into `LOCAL_DIM` buckets with log term frequency, unit length."""
    vector = np.zeros(LOCAL_DIM, dtype=np.float32)
    for stem in search.terms(text):
        if len(stem) < 2:
            continue
        bucket = int.from_bytes(hashlib.blake2b(stem.encode(), digest_size=4).digest(), "big") % LOCAL_DIM
        vector[bucket] += 1.0
    np.log1p(vector, out=vector)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def _unit(values: list[float]) -> Vector:
    vector = np.asarray(values, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


class Embedder:
    """GigaChat Embeddings when it answers, else the local embedding for the rest of the run."""

    def __init__(self, chain: ProviderChain) -> None:
        slot = chain.slot("gigachat")
        self._slot = slot
        self.model: str | None = None
        self.fallback_reason: str | None = None if slot is not None else "GigaChat не настроен"

    async def embed(self, texts: list[str]) -> tuple[str, list[Vector]]:
        if self._slot is not None and self.fallback_reason is None:
            provider: Any = self._slot.provider
            try:
                async with self._slot.limiter.slot():
                    model, vectors = await provider.embed(texts)
                self.model = model
                return model, [_unit(v) for v in vectors]
            except ProviderError as exc:
                self.fallback_reason = exc.describe()
                logger.warning("GigaChat embeddings unavailable, falling back to local: %s", exc.describe())
        self.model = LOCAL_MODEL
        return LOCAL_MODEL, [local_embedding(t) for t in texts]


INCREMENTAL_LIMIT = 1000
"""At most this many new vectors are read into a loaded matrix; more (a bulk intake) reload it whole."""


@dataclass
class _Matrix:
    """Stored vectors as rows of one float32 matrix, with spare rows so that vectors can be added in place.
    Updated in place (`apply`): rank it before the next await."""

    signature: tuple[int, int]
    size: int
    _ids: npt.NDArray[np.int64]
    _row_ids: npt.NDArray[np.int64]
    _vectors: Vector

    @property
    def ids(self) -> npt.NDArray[np.int64]:
        """The candidate of each row."""
        return self._ids[: self.size]

    @property
    def row_ids(self) -> npt.NDArray[np.int64]:
        """The `embeddings.id` of each row."""
        return self._row_ids[: self.size]

    @property
    def vectors(self) -> Vector:
        return self._vectors[: self.size]

    @classmethod
    def empty(cls) -> _Matrix:
        return cls((0, 0), 0, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros((0, 1), np.float32))

    @classmethod
    def of(cls, row_ids: Sequence[int], candidate_ids: Sequence[int], blobs: Sequence[bytes], width: int) -> _Matrix:
        size = len(blobs)
        capacity = _capacity(size)
        # One join into a writable buffer that numpy reads in place (a per-row frombuffer and vstack cost more
        # than the database's read of the same rows), with the spare rows zeroed at its end.
        memory = bytearray().join([*blobs, bytes((capacity - size) * width)])
        vectors = np.frombuffer(memory, dtype="<f4").reshape(capacity, width // 4)
        ids = np.zeros(capacity, dtype=np.int64)
        ids[:size] = candidate_ids
        rows = np.zeros(capacity, dtype=np.int64)
        rows[:size] = row_ids
        return cls((0, 0), size, ids, rows, vectors)

    def apply(self, present: npt.NDArray[np.int64], added: _Matrix) -> None:
        """Drop the rows whose embedding id is not in `present` and add `added`'s rows, in place: a new row
        takes a dropped one's place, the last rows fill the places left, and spare rows take the rest."""
        gone = np.flatnonzero(~np.isin(self.row_ids, present, assume_unique=True))
        fill = min(gone.size, added.size)
        self._put(gone[:fill], added, slice(0, fill))
        holes = gone[fill:]
        if holes.size:
            end = self.size - holes.size
            tail = np.setdiff1d(np.arange(end, self.size), holes, assume_unique=True)
            front = holes[holes < end]
            self._vectors[front], self._ids[front], self._row_ids[front] = (
                self._vectors[tail],
                self._ids[tail],
                self._row_ids[tail],
            )
            self.size = end
        extra = added.size - fill
        if extra:
            need = self.size + extra
            if need > self._ids.size:
                self._grow(_capacity(need))
            self._put(np.arange(self.size, need), added, slice(fill, added.size))
            self.size = need

    def _put(self, slots: npt.NDArray[np.intp], source: _Matrix, rows: slice) -> None:
        self._vectors[slots] = source.vectors[rows]
        self._ids[slots] = source.ids[rows]
        self._row_ids[slots] = source.row_ids[rows]

    def _grow(self, capacity: int) -> None:
        vectors = np.zeros((capacity, self._vectors.shape[1]), dtype=np.float32)
        vectors[: self.size] = self.vectors
        ids = np.zeros(capacity, dtype=np.int64)
        ids[: self.size] = self.ids
        rows = np.zeros(capacity, dtype=np.int64)
        rows[: self.size] = self.row_ids
        self._vectors, self._ids, self._row_ids = vectors, ids, rows


def _capacity(size: int) -> int:
    return size + max(16, size // 8)


@dataclass
class VectorCache:
    """Every stored candidate vector of a model as one float32 matrix, per process; brought up to date when the
    set of stored rows changes (their count or newest id). A stored vector never changes in place (a new text
    gets a new row), so an update reads only the rows it does not hold and drops the ones gone (erased).
    One load per model at a time: a request that arrives while the start-up warm-up (`warm`) is loading
    waits for that load instead of starting a second one."""

    matrices: dict[str, _Matrix] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def matrix(self, session: AsyncSession, model: str) -> _Matrix:
        row = (
            await session.execute(
                select(func.count(Embedding.id), func.coalesce(func.max(Embedding.id), 0)).where(*_stored(model))
            )
        ).one()
        signature = (int(row[0]), int(row[1]))
        cached = self.matrices.get(model)
        if cached is not None and cached.signature == signature:
            return cached
        async with self._locks.setdefault(model, asyncio.Lock()):
            cached = self.matrices.get(model)
            if cached is not None and cached.signature == signature:
                return cached  # loaded by the request (or warm-up) this one waited for
            built = await _update(session, model, cached) if cached is not None else None
            if built is None:
                built = await _load(session, model)
            self.matrices[model] = built
            return built

    async def warm(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        """Load the matrix of every model with stored candidate vectors, so that the first shortlist after a
        start does not wait for it. Errors are logged, not raised: a failed warm-up leaves the load to the
        first request."""
        try:
            async with session_factory() as session:
                models = (
                    await session.scalars(select(Embedding.model).where(Embedding.candidate_id.is_not(None)).distinct())
                ).all()
                for model in models:
                    await self.matrix(session, model)
        except Exception:
            logger.exception("loading the stored vectors at startup failed; the first shortlist will load them")


def _stored(model: str) -> tuple[ColumnElement[bool], ...]:
    return Embedding.model == model, Embedding.candidate_id.is_not(None)


def _pack(model: str, rows: Sequence[Row[int, int | None, bytes]], width: int | None) -> _Matrix:
    """Rows of (embedding id, candidate id, float32 blob) as a matrix; a blob of another byte width than
    `width` (or the first row's) is left out: one model has one dimension."""
    if not rows:
        return _Matrix.empty()
    row_ids, candidate_ids, blobs = zip(*rows, strict=True)
    width = width or len(blobs[0])
    if any(len(blob) != width for blob in blobs):
        kept = [i for i, blob in enumerate(blobs) if len(blob) == width]
        logger.warning("%d stored vectors of model %s have another dimension: ignored", len(blobs) - len(kept), model)
        row_ids = tuple(row_ids[i] for i in kept)
        candidate_ids = tuple(candidate_ids[i] for i in kept)
        blobs = tuple(blobs[i] for i in kept)
    return _Matrix.of(row_ids, candidate_ids, blobs, width)


async def _load(session: AsyncSession, model: str) -> _Matrix:
    # Only the three columns, as plain rows (no ORM objects).
    rows = (
        await session.execute(select(Embedding.id, Embedding.candidate_id, Embedding.vector).where(*_stored(model)))
    ).all()
    built = _pack(model, rows, None)
    built.signature = (len(rows), max((r[0] for r in rows), default=0))
    return built


async def _update(session: AsyncSession, model: str, cached: _Matrix) -> _Matrix | None:
    """`cached`, updated in place with the rows gone dropped and the new ones read, or None when a whole load
    is cheaper."""
    listing = (await session.execute(select(Embedding.id).where(*_stored(model)))).scalars().all()
    present = np.array(listing, dtype=np.int64)
    missing = np.setdiff1d(present, cached.row_ids, assume_unique=True)
    if cached.size == 0 or missing.size > INCREMENTAL_LIMIT:
        return None
    added = _Matrix.empty()
    if missing.size:
        rows = (
            await session.execute(
                select(Embedding.id, Embedding.candidate_id, Embedding.vector).where(
                    *_stored(model), Embedding.id.in_(missing.tolist())
                )
            )
        ).all()
        added = _pack(model, rows, cached.vectors.shape[1] * 4)
    # No await from here on: a ranking never sees the matrix half updated.
    cached.apply(present, added)
    cached.signature = (len(listing), int(present.max(initial=0)))
    return cached


def rank(matrix: _Matrix, query: Vector, limit: int) -> list[tuple[int, float]]:
    """The `limit` best (candidate id, cosine) pairs, best first."""
    if matrix.ids.size == 0 or matrix.vectors.shape[1] != query.shape[0]:
        return []
    scores = matrix.vectors @ query
    limit = min(limit, scores.size)
    best = np.argpartition(-scores, limit - 1)[:limit]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(int(matrix.ids[i]), float(scores[i])) for i in best]


Writes = list[Any]
"""Statements and new rows held back until every embedding call of the run is done: on SQLite a pending write
would hold the database's write lock while the provider's shared slot (a row in the same database) is taken."""


def _store_vector(
    writes: Writes, *, candidate_id: int | None, vacancy_id: int | None, model: str, digest: str, vector: Vector
) -> None:
    owner = Embedding.candidate_id == candidate_id if candidate_id is not None else Embedding.vacancy_id == vacancy_id
    writes.append(delete(Embedding).where(owner, Embedding.model == model))
    writes.append(
        Embedding(
            candidate_id=candidate_id,
            vacancy_id=vacancy_id,
            model=model,
            text_hash=digest,
            dim=int(vector.shape[0]),
            vector=vector.astype("<f4").tobytes(),
        )
    )


async def _apply(session: AsyncSession, writes: Writes) -> None:
    for write in writes:
        if isinstance(write, Embedding):
            session.add(write)
        else:
            await session.execute(write)
    writes.clear()
    await session.flush()


async def _vacancy_vector(
    session: AsyncSession, settings: Settings, embedder: Embedder, vacancy: Vacancy, writes: Writes
) -> Vector:
    text = vacancy_text(settings, vacancy)
    digest = _hash(text)
    model, [vector] = await embedder.embed([text])
    stored = await session.scalar(select(Embedding).where(Embedding.vacancy_id == vacancy.id, Embedding.model == model))
    if stored is None or stored.text_hash != digest:
        _store_vector(writes, candidate_id=None, vacancy_id=vacancy.id, model=model, digest=digest, vector=vector)
    return vector


async def refresh_candidates(
    session: AsyncSession, settings: Settings, embedder: Embedder, model: str, writes: Writes
) -> int:
    """Embed every candidate whose profile changed since its vector was stored (or who has none); return how
    many texts were sent to be embedded."""
    stale = (
        await session.scalars(
            select(Candidate)
            .outerjoin(Embedding, (Embedding.candidate_id == Candidate.id) & (Embedding.model == model))
            .where(
                Candidate.erased_at.is_(None),
                (Embedding.id.is_(None)) | (Embedding.created_at < Candidate.updated_at),
            )
            .order_by(Candidate.id)
        )
    ).all()
    hashes = dict(
        (
            await session.execute(
                select(Embedding.candidate_id, Embedding.text_hash).where(
                    Embedding.model == model, Embedding.candidate_id.in_([c.id for c in stale])
                )
            )
        ).all()
    )
    todo: list[tuple[Candidate, str, str]] = []
    for candidate in stale:
        text = profile_text(settings, candidate)
        if not text:
            continue
        digest = _hash(text)
        if hashes.get(candidate.id) == digest:
            # Something else on the card changed: the same text keeps its vector.
            writes.append(
                update(Embedding)
                .where(Embedding.candidate_id == candidate.id, Embedding.model == model)
                .values(created_at=utcnow())
            )
            continue
        todo.append((candidate, text, digest))
    for start in range(0, len(todo), EMBED_BATCH):
        chunk = todo[start : start + EMBED_BATCH]
        used, vectors = await embedder.embed([text for _, text, _ in chunk])
        if used != model:
            return -1  # the provider failed mid-run: the caller starts over with the fallback model
        for (candidate, _, digest), vector in zip(chunk, vectors, strict=True):
            _store_vector(writes, candidate_id=candidate.id, vacancy_id=None, model=model, digest=digest, vector=vector)
    return len(todo)


@dataclass
class RankedPool:
    vacancy: Vacancy
    model: str
    fallback_reason: str | None
    ranked: list[tuple[int, float]]


async def prepare(
    session: AsyncSession, settings: Settings, chain: ProviderChain, cache: VectorCache, vacancy_id: int
) -> RankedPool:
    """Bring the embeddings up to date and rank the whole pool against the vacancy."""
    vacancy = await session.get(Vacancy, vacancy_id)
    if vacancy is None:
        raise NotFound(VACANCY_NOT_FOUND)
    embedder = Embedder(chain)
    writes: Writes = []
    query = await _vacancy_vector(session, settings, embedder, vacancy, writes)
    model = embedder.model or LOCAL_MODEL
    if await refresh_candidates(session, settings, embedder, model, writes) < 0:
        model = LOCAL_MODEL
        writes.clear()  # the provider failed mid-run: nothing of its model is kept
        query = await _vacancy_vector(session, settings, embedder, vacancy, writes)
        await refresh_candidates(session, settings, embedder, model, writes)
    await _apply(session, writes)
    ranked = rank(await cache.matrix(session, model), query, KEPT_ENTRIES)
    if not ranked:
        raise Unprocessable(EMPTY_POOL)
    return RankedPool(vacancy, model, embedder.fallback_reason, ranked)


def skill_match(vacancy: Vacancy, candidate: Candidate) -> tuple[list[str], list[str]]:
    """The vacancy's key skills the candidate's skills or resume mention (in any word form), and the rest."""
    have = set(
        search.terms(" ".join([*(candidate.skills or []), candidate.resume_text or "", candidate.position or ""]))
    )
    matched: list[str] = []
    missing: list[str] = []
    for skill in vacancy.key_skills or []:
        stems = search.terms(skill)
        (matched if stems and all(s in have for s in stems) else missing).append(skill)
    return matched, missing


def to_analyse(pool: RankedPool, top_n: int) -> list[int]:
    return [candidate_id for candidate_id, _ in pool.ranked[:top_n]]


async def analyse(
    session: AsyncSession, settings: Settings, chain: ProviderChain, pool: RankedPool, candidate_id: int
) -> int | None:
    """Run and store the analysis of one shortlisted candidate; None when it cannot be had (no resume, every
    provider down): the candidate keeps their place without one."""
    candidate = await session.get(Candidate, candidate_id)
    if candidate is None or candidate.erased_at is not None:
        return None
    try:
        prepared = await analysis.prepare(session, settings, candidate, pool.vacancy.id)
        outcome = await analysis.run(chain, prepared)
        return (await analysis.store(session, candidate, prepared, outcome)).id
    except AppError as exc:
        logger.info("no analysis for shortlisted candidate %s: %s", candidate_id, type(exc).__name__)
        return None


async def store(
    session: AsyncSession, pool: RankedPool, analyses: dict[int, int | None], *, actor: User, ip: str | None
) -> list[ShortlistEntry]:
    """Replace the vacancy's stored shortlist with this run's ranking, and record who ran it."""
    candidates = {
        c.id: c for c in await session.scalars(select(Candidate).where(Candidate.id.in_([i for i, _ in pool.ranked])))
    }
    entries: list[ShortlistEntry] = []
    for candidate_id, score in pool.ranked:
        candidate = candidates.get(candidate_id)
        if candidate is None or candidate.erased_at is not None:
            continue
        matched, missing = skill_match(pool.vacancy, candidate)
        entries.append(
            ShortlistEntry(
                vacancy_id=pool.vacancy.id,
                candidate_id=candidate_id,
                rank=len(entries) + 1,
                score=max(0.0, min(1.0, score if math.isfinite(score) else 0.0)),
                model=pool.model,
                matched_skills=matched,
                missing_skills=missing,
                analysis_id=analyses.get(candidate_id),
            )
        )
    await session.execute(delete(ShortlistEntry).where(ShortlistEntry.vacancy_id == pool.vacancy.id))
    session.add_all(entries)
    await audit.record(
        session,
        "ai.shortlist",
        actor=actor,
        entity_type="vacancy",
        entity_id=pool.vacancy.id,
        ip=ip,
        details={
            "model": pool.model,
            "ranked": len(pool.ranked),
            "analysed": sum(1 for analysis_id in analyses.values() if analysis_id is not None),
        },
    )
    await session.flush()
    return entries


async def current(session: AsyncSession, vacancy_id: int) -> list[tuple[ShortlistEntry, Candidate, Analysis | None]]:
    rows = await session.execute(
        select(ShortlistEntry, Candidate, Analysis)
        .join(Candidate, Candidate.id == ShortlistEntry.candidate_id)
        .outerjoin(Analysis, Analysis.id == ShortlistEntry.analysis_id)
        .where(ShortlistEntry.vacancy_id == vacancy_id, Candidate.erased_at.is_(None))
        .order_by(ShortlistEntry.rank)
    )
    return [(e, c, a) for e, c, a in rows]
