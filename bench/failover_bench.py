"""How fast the turn engine gets a recruiter an answer when GigaChat misbehaves, and what sharing costs.

    .venv/bin/python bench/failover_bench.py [--turns 300] [--before] [--pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]

Against the local fake GigaChat/OpenRouter (no artificial delay unless a fault says so), with the default
timeouts and hedging settings:

- silent primary: GigaChat accepts the request and never writes; time until OpenRouter's answer is complete;
- 20 s first token: GigaChat's first token would come after 20 s; time until the answer is complete;
- open breaker: p50 of one `allow()` of the shared breaker while it is open (what a skipped GigaChat costs),
  and p50 of a whole turn with GigaChat's breaker open minus a turn on a chain with OpenRouter alone;
- shared limiter: p50 of a turn with the database-shared limiter and breaker minus the same turn with the
  in-process ones, on PostgreSQL (and SQLite for comparison);
- Redis limiter: the same with the limiter and breaker in Redis (`--redis-url`, a throw-away key prefix), and
  p50 of one slot taken and released alone.

`--before` also runs the silent and 20 s cases with hedging off, which is how main behaved before issue 9.
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))

from app.ai.chain import ProviderChain  # noqa: E402
from app.ai.factory import build_chain  # noqa: E402
from app.ai.resilience import ConcurrencyLimiter, SharedBreaker  # noqa: E402
from app.ai.resilience_redis import RedisBackend, RedisLimiter  # noqa: E402
from app.ai.types import LLMRequest  # noqa: E402
from app.core import migrations  # noqa: E402
from app.core.config import Settings  # noqa: E402
from app.core.db import create_engine, create_session_factory  # noqa: E402
from tests.fake_upstream import FakeUpstream, Fault  # noqa: E402

REQUEST = LLMRequest([{"role": "user", "content": "Оцените кандидата"}], 0.7, 200)


def settings_for(fake: FakeUpstream, url: str, **overrides: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        DATABASE_URL=url,
        GIGACHAT_API_KEY=fake.credentials,
        GIGACHAT_SCOPE=fake.scope,
        GIGACHAT_BASE_URL=fake.gigachat_base_url,
        GIGACHAT_AUTH_URL=fake.gigachat_auth_url,
        OPENROUTER_API_KEY=fake.openrouter_api_key,
        OPENROUTER_BASE_URL=fake.openrouter_base_url,
        **overrides,
    )


@asynccontextmanager
async def database(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A migrated database: a fresh file for SQLite, a scratch database on the PostgreSQL server."""
    drop: Callable[[], Awaitable[None]] | None = None
    if url.startswith("postgresql"):
        admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
        name = f"nexus_bench_{uuid.uuid4().hex[:10]}"
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(url).set(database=name).render_as_string(hide_password=False)

        async def drop_it() -> None:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            await admin.dispose()

        drop = drop_it
    settings = Settings(_env_file=None, DATABASE_URL=url)  # type: ignore[call-arg]
    engine = create_engine(settings)
    await migrations.upgrade(engine)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()
        if drop is not None:
            await drop()


def p50_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


async def answer_time(chain: ProviderChain, fake: FakeUpstream, fault: Fault, runs: int) -> dict[str, Any]:
    times, providers = [], []
    for _ in range(runs):
        fake.gigachat.push(fault)
        started = time.perf_counter()
        result = await chain.complete(REQUEST)
        times.append(time.perf_counter() - started)
        providers.append(result.provider)
        fake.gigachat.clear()
    return {"seconds": [round(t, 2) for t in times], "max_s": round(max(times), 2), "providers": providers}


async def turn_p50(chain: ProviderChain, turns: int) -> float:
    for _ in range(10):  # warm up: OAuth token, connections
        await chain.complete(REQUEST)
    samples = []
    for _ in range(turns):
        started = time.perf_counter()
        await chain.complete(REQUEST)
        samples.append(time.perf_counter() - started)
    return p50_ms(samples)


async def failover(fake: FakeUpstream, url: str, before: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with database(url) as session_factory:
        cases: list[tuple[str, dict[str, Any]]] = [("defaults", {})]
        if before:
            cases.append(("before (no hedging)", {"LLM_HEDGE_AFTER": 0, "LLM_HEDGE_FOREIGN_AFTER": 0}))
        for label, overrides in cases:
            chain = build_chain(settings_for(fake, url, **overrides), session_factory=session_factory)
            try:
                out[label] = {
                    "silent primary": await answer_time(chain, fake, Fault.silent_stream(120.0), 1 if before else 3),
                    "20 s first token": await answer_time(chain, fake, Fault.silent_stream(20.0), 1 if before else 3),
                }
            finally:
                await chain.aclose()
    return out


async def open_breaker(fake: FakeUpstream, url: str, turns: int) -> dict[str, Any]:
    async with database(url) as session_factory:
        breaker = SharedBreaker(session_factory, "gigachat", threshold=1, cooldown=3600)
        await breaker.record_failure()
        samples = []
        for _ in range(turns):
            started = time.perf_counter()
            allowed = await breaker.allow()
            samples.append(time.perf_counter() - started)
            assert not allowed
        settings = settings_for(fake, url, LLM_BREAKER_FAILURES=1, LLM_BREAKER_COOLDOWN=3600)
        skipping = build_chain(settings, session_factory=session_factory)
        fake.gigachat.push(Fault.status(402))
        await skipping.complete(REQUEST)  # opens GigaChat's breaker
        alone = build_chain(settings_for(fake, url, USE_GIGACHAT=False), session_factory=session_factory)
        try:
            with_open = await turn_p50(skipping, turns)
            openrouter_only = await turn_p50(alone, turns)
        finally:
            await skipping.aclose()
            await alone.aclose()
    return {
        "allow_p50_ms": p50_ms(samples),
        "turn_p50_ms_breaker_open": with_open,
        "turn_p50_ms_openrouter_alone": openrouter_only,
        "added_p50_ms": round(with_open - openrouter_only, 3),
    }


async def shared_limiter(fake: FakeUpstream, url: str, turns: int) -> dict[str, Any]:
    async with database(url) as session_factory:
        settings = settings_for(fake, url)
        shared = build_chain(settings, session_factory=session_factory)
        local = build_chain(settings)
        try:
            local_p50 = await turn_p50(local, turns)
            shared_p50 = await turn_p50(shared, turns)
        finally:
            await shared.aclose()
            await local.aclose()
    return {
        "turn_p50_ms_in_process": local_p50,
        "turn_p50_ms_shared": shared_p50,
        "added_p50_ms": round(shared_p50 - local_p50, 3),
    }


async def redis_limiter(fake: FakeUpstream, url: str, redis_url: str, turns: int) -> dict[str, Any]:
    prefix = f"nexus-bench-{uuid.uuid4().hex[:10]}"
    backend = RedisBackend(redis_url, prefix)
    try:
        async with database(url) as session_factory:
            settings = settings_for(fake, url)
            shared = build_chain(settings, session_factory=session_factory, redis=backend)
            local = build_chain(settings)
            try:
                local_p50 = await turn_p50(local, turns)
                redis_p50 = await turn_p50(shared, turns)
            finally:
                await shared.aclose()
                await local.aclose()
        alone = RedisLimiter(backend, "bench", 1, 1, 5.0, holder="bench", fallback=ConcurrencyLimiter(1, 1, 5.0))
        samples = []
        for _ in range(turns):
            started = time.perf_counter()
            async with alone.slot():
                pass
            samples.append(time.perf_counter() - started)
    finally:
        keys = [key async for key in backend.client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await backend.client.delete(*keys)
        await backend.aclose()
    return {
        "turn_p50_ms_in_process": local_p50,
        "turn_p50_ms_redis": redis_p50,
        "added_p50_ms": round(redis_p50 - local_p50, 3),
        "slot_take_release_p50_ms": p50_ms(samples),
    }


async def main(turns: int, before: bool, pg_url: str | None, redis_url: str | None = None) -> dict[str, Any]:
    logging.basicConfig(level=logging.ERROR)
    fake = FakeUpstream().start()
    fake.chunk_delay = 0.0
    workdir = Path(tempfile.mkdtemp(prefix="nexus-failover-"))
    sqlite_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    try:
        report: dict[str, Any] = {"failover (SQLite, default settings)": await failover(fake, sqlite_url, before)}
        fake.reset()
        fake.chunk_delay = 0.0
        for name, url in (("sqlite", sqlite_url.replace("bench.db", "bench2.db")), ("postgresql", pg_url)):
            if url is None:
                continue
            report[f"open breaker ({name})"] = await open_breaker(fake, url, turns)
            fake.reset()
            fake.chunk_delay = 0.0
            report[f"shared limiter ({name})"] = await shared_limiter(fake, url, turns)
            fake.reset()
            fake.chunk_delay = 0.0
            if redis_url is not None:
                report[f"Redis limiter ({name} fallback)"] = await redis_limiter(fake, url, redis_url, turns)
                fake.reset()
                fake.chunk_delay = 0.0
        return report
    finally:
        fake.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--before", action="store_true", help="also run the failover cases with hedging off")
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(
        main(args.turns, args.before, None if args.no_pg else args.pg_url, None if args.no_redis else args.redis_url)
    )
    print(json.dumps(result, ensure_ascii=False, indent=2))
