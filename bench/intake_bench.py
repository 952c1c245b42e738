"""Intake and shortlist speed on SQLite and PostgreSQL.

    .venv/bin/python bench/intake_bench.py [--pool 10000] [--resumes 20] [--upstream-delay 1.0] [--only pool|intake]

1. Ranking a pool of `--pool` candidates for a vacancy with the embeddings stored (1024-dim float32): the first
   ranking with nothing loaded (reads the matrix), warm rankings (p50/p95), the start-up warm-up (the lifespan
   loads the matrix in the background) and the first ranking after it, and a ranking after one stored vector
   was replaced (only the new row is read).
2. Full-text search over `--pool` resumes through the list endpoint's query (p50/p95 over several Russian words),
   and the list without a search.
3. Intake through the app: `--resumes` DOCX files with a PERS-scope fake GigaChat that takes `--upstream-delay`
   seconds per draft: the wall time against pure provider time, and how far the ETA shown at 25 % and 50 %
   was from the real remaining time.

PostgreSQL runs when BENCH_PG_URL (or TEST_DATABASE_URL) names a server; a database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))

from app.core import migrations  # noqa: E402
from app.core.config import Settings  # noqa: E402
from app.core.db import create_engine, create_session_factory  # noqa: E402
from app.main import create_app  # noqa: E402
from app.models import Candidate, Embedding, Stage, UserRole  # noqa: E402
from app.services import candidates, search, shortlist, users  # noqa: E402
from tests.fake_upstream import FakeUpstream, Fault  # noqa: E402
from tests.resume_files import make_docx  # noqa: E402

WORDS = (
    "разработчик аналитик менеджер бухгалтер инженер дизайнер тестировщик архитектор продажи маркетинг логистика "
    "python java postgresql kafka kubernetes docker react figma excel 1с мсфо налоги закупки склад команда проект "
    "клиенты отчётность интеграция сервис платформа банк финтех ритейл производство обучение поддержка качество"
).split()
QUERIES = ["разработчика", "kafka", "бухгалтер отчётность", "платформы", "менеджер продаж", "kubernetes"]


def pct(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 2),
    }


_FILLER_RNG = random.Random(7)
FILLER = [
    "".join(_FILLER_RNG.choice("абвгдежзиклмнопрстуфхцчшэюя") for _ in range(_FILLER_RNG.randint(4, 10)))
    for _ in range(5000)
]


def resume(rng: random.Random) -> str:
    """A resume-like text: mostly words from a large vocabulary, plus a handful of the topical words (so a
    topical query matches a realistic share of the pool, not all of it)."""
    words = [rng.choice(FILLER) for _ in range(rng.randint(150, 350))]
    words += rng.sample(WORDS, rng.randint(3, 8))
    rng.shuffle(words)
    return " ".join(words)


async def database_urls(workdir: Path) -> list[tuple[str, str, Any]]:
    urls: list[tuple[str, str, Any]] = [("sqlite", f"sqlite+aiosqlite:///{workdir / 'bench.db'}", None)]
    admin = os.environ.get("BENCH_PG_URL") or os.environ.get("TEST_DATABASE_URL")
    if admin:
        url = make_url(admin).set(drivername="postgresql+asyncpg")
        name = f"nexus_bench_{uuid.uuid4().hex[:8]}"
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await engine.dispose()

        async def drop() -> None:
            e = create_async_engine(url, isolation_level="AUTOCOMMIT")
            async with e.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await e.dispose()

        urls.append(("postgres", url.set(database=name).render_as_string(hide_password=False), drop))
    return urls


async def pool_bench(url: str, pool: int) -> dict[str, Any]:
    settings = Settings(_env_file=None, DATABASE_URL=url, LOG_LEVEL="ERROR")  # type: ignore[call-arg]
    engine = create_engine(settings)
    await migrations.upgrade(engine)
    factory = create_session_factory(engine)
    rng = random.Random(13)
    rows = []
    for i in range(pool):
        body = resume(rng)
        position = rng.choice(WORDS)
        rows.append(
            {
                "full_name": f"Кандидат {i}",
                "position": position,
                "resume_text": body,
                "skills": [],
                "stage": Stage.NEW.value,
                "search_terms": " ".join(search.terms(body)),
                "search_text": search.substring_text(f"Кандидат {i}", None, position, []),
            }
        )
    started = time.perf_counter()
    async with engine.begin() as conn:
        for start in range(0, pool, 1000):
            await conn.execute(insert(Candidate), rows[start : start + 1000])
    load_s = time.perf_counter() - started
    dim = 1024
    vectors = np.random.default_rng(13).standard_normal((pool, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    async with engine.begin() as conn:
        ids = [r[0] for r in (await conn.execute(text("SELECT id FROM candidates ORDER BY id"))).all()]
        for start in range(0, pool, 1000):
            await conn.execute(
                insert(Embedding),
                [
                    {"candidate_id": cid, "model": "Embeddings", "text_hash": "x" * 64, "dim": dim,
                     "vector": vectors[k].astype("<f4").tobytes()}
                    for k, cid in enumerate(ids[start : start + 1000], start=start)
                ],
            )  # fmt: skip
    query = vectors[0] + 0.1 * vectors[1]
    query /= np.linalg.norm(query)
    cache = shortlist.VectorCache()
    async with factory() as session:
        # Cold: nothing loaded the matrix yet (what a request pays if it comes before the start-up warm-up
        # is done).
        t0 = time.perf_counter()
        ranked = shortlist.rank(await cache.matrix(session, "Embeddings"), query, 50)
        cold = time.perf_counter() - t0
        assert ranked[0][0] == ids[0]
        warm = []
        for _ in range(30):
            t0 = time.perf_counter()
            shortlist.rank(await cache.matrix(session, "Embeddings"), query, 50)
            warm.append(time.perf_counter() - t0)
    # A start: the lifespan's warm-up loads the matrix in the background; the first shortlist comes after it.
    started_cache = shortlist.VectorCache()
    t0 = time.perf_counter()
    await started_cache.warm(factory)
    warmup = time.perf_counter() - t0
    async with factory() as session:
        t0 = time.perf_counter()
        shortlist.rank(await started_cache.matrix(session, "Embeddings"), query, 50)
        after_start = time.perf_counter() - t0
    # One profile re-embedded (its row replaced): the next ranking reads only the new row into the matrix.
    changed = []
    for k in range(5):
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM embeddings WHERE candidate_id = :id"), {"id": ids[100 + k]})
            await conn.execute(
                insert(Embedding),
                [{"candidate_id": ids[100 + k], "model": "Embeddings", "text_hash": "y" * 64, "dim": dim,
                  "vector": vectors[100 + k].astype("<f4").tobytes()}],
            )  # fmt: skip
        async with factory() as session:
            t0 = time.perf_counter()
            shortlist.rank(await cache.matrix(session, "Embeddings"), query, 50)
            changed.append(time.perf_counter() - t0)
    fts = []
    async with factory() as session:
        for _ in range(5):
            for q in QUERIES:
                t0 = time.perf_counter()
                await candidates.list_(session, q=q, stage=None, vacancy_id=None, offset=0, limit=20)
                fts.append(time.perf_counter() - t0)
    plain = []
    async with factory() as session:
        for _ in range(10):
            t0 = time.perf_counter()
            await candidates.list_(session, q=None, stage=None, vacancy_id=None, offset=0, limit=50)
            plain.append(time.perf_counter() - t0)
    await engine.dispose()
    return {
        "pool": pool,
        "insert_s": round(load_s, 1),
        "rank_first_ms": round(cold * 1000, 1),
        "rank_warm": pct(warm),
        "startup_warmup_ms": round(warmup * 1000, 1),
        "rank_first_after_warmup_ms": round(after_start * 1000, 1),
        "rank_after_one_vector_changed": pct(changed),
        "fts_list_query": pct(fts),
        "list_without_search": pct(plain),
    }


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield


async def intake_bench(url: str, count: int, delay: float, workdir: Path) -> dict[str, Any]:
    fake = FakeUpstream().start()
    try:
        doc = {"full_name": "Кандидат", "skills": ["Python"], "position": "Разработчик"}
        fake.gigachat.set_default(Fault(structured=doc, chunk_delay=delay))
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            DATABASE_URL=url,
            DATA_DIR=workdir / f"data-{uuid.uuid4().hex[:6]}",
            GIGACHAT_API_KEY=fake.credentials,
            GIGACHAT_SCOPE=fake.scope,
            GIGACHAT_BASE_URL=fake.gigachat_base_url,
            GIGACHAT_AUTH_URL=fake.gigachat_auth_url,
            LOG_LEVEL="ERROR",
        )
        engine = create_engine(settings)
        await migrations.upgrade(engine)  # `--only intake` starts from an empty database
        await engine.dispose()
        app = create_app(settings)
        server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False))
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        async with app.state.session_factory() as session, session.begin():
            admin = await users.create(
                session, email=f"b{uuid.uuid4().hex[:6]}@example.com", display_name="b", password="bench-password-1",
                role=UserRole.ADMIN,
            )  # fmt: skip
        from app.services import auth

        async with app.state.session_factory() as session, session.begin():
            token = (await auth.issue(session, settings, admin)).token
        files = [
            ("files", (f"cv{i}.docx", make_docx([f"Кандидат {i}", f"Телефон +7 900 000-{i:02d}-{i:02d}", "Python"]),
                       "application/octet-stream"))
            for i in range(count)
        ]  # fmt: skip
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            started = time.perf_counter()
            batch = (await c.post("/api/intake/batches", files=files)).json()
            etas: dict[str, tuple[float, float]] = {}
            while True:
                body = (await c.get(f"/api/intake/batches/{batch['id']}")).json()
                now = time.perf_counter() - started
                for mark in (0.25, 0.5):
                    key = f"{int(mark * 100)}%"
                    if key not in etas and body["done"] >= count * mark and body["eta_seconds"] is not None:
                        etas[key] = (now, body["eta_seconds"])
                if body["done"] == body["total"]:
                    break
                await asyncio.sleep(0.2)
            total = time.perf_counter() - started
        server.should_exit = True
        await task
    finally:
        fake.stop()
    accuracy = {
        key: {"eta_s": round(eta, 1), "real_remaining_s": round(total - at, 1),
              "error_pct": round(abs(eta - (total - at)) / max(total - at, 1e-9) * 100, 1)}
        for key, (at, eta) in etas.items()
    }  # fmt: skip
    return {
        "resumes": count,
        "upstream_delay_s": delay,
        "provider_time_s": round(count * delay, 1),
        "wall_s": round(total, 1),
        "overhead_pct": round((total / (count * delay) - 1) * 100, 1),
        "eta": accuracy,
    }


async def main(pool: int, resumes: int, delay: float, parts: set[str]) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="nexus-intake-bench-"))
    results: dict[str, Any] = {}
    for backend, url, drop in await database_urls(workdir):
        try:
            results[backend] = {}
            if "pool" in parts:
                results[backend]["pool"] = await pool_bench(url, pool)
            if "intake" in parts:
                results[backend]["intake"] = await intake_bench(url, resumes, delay, workdir)
        finally:
            if drop is not None:
                await drop()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=10_000)
    parser.add_argument("--resumes", type=int, default=20)
    parser.add_argument("--upstream-delay", type=float, default=1.0)
    parser.add_argument(
        "--only", choices=["pool", "intake"], help="run one part: pool (ranking and search) or intake (default: both)"
    )
    args = parser.parse_args()
    parts = {args.only} if args.only else {"pool", "intake"}
    results = asyncio.run(main(args.pool, args.resumes, args.upstream_delay, parts))
    print(json.dumps(results, ensure_ascii=False, indent=2))
