"""Measure what the backend adds to a chat turn, against the local fake GigaChat/OpenRouter.

    .venv/bin/python bench/chat_bench.py [--turns 200] [--concurrency 8]

Reports p50/p95/max latency of `POST /api/chat/` and of the first `delta` of `POST /api/chat/stream`, the same
for a turn that falls back to OpenRouter, and the process's peak RSS. The fake answers with no artificial
delay, so the numbers are our overhead (HTTP, DB writes, prompt building, SDK) on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))

from app.core import migrations
from app.core.config import Settings
from app.core.db import create_engine
from app.main import create_app
from app.models import UserRole
from app.services import auth, users
from tests.fake_upstream import FakeUpstream, Fault


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def timed(
    count: int, concurrency: int, call: Callable[[int], Awaitable[float]]
) -> list[float]:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> float:
        async with semaphore:
            return await call(i)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def sdk_baseline(fake: FakeUpstream, turns: int) -> dict[str, float]:
    """The fake's own latency through the GigaChat SDK: subtract it to get what the backend adds."""
    from gigachat import GigaChat

    client = GigaChat(
        base_url=fake.gigachat_base_url,
        auth_url=fake.gigachat_auth_url,
        credentials=fake.credentials,
        scope=fake.scope,
        model="GigaChat-2",
    )
    payload = {
        "model": "GigaChat-2",
        "messages": [{"role": "user", "content": "Вопрос"}],
    }

    async def call(_: int) -> float:
        started = time.perf_counter()
        async for _chunk in client.astream(payload):
            pass
        return time.perf_counter() - started

    await call(0)
    samples = await timed(turns, 1, call)
    await client.aclose()
    return percentiles(samples)


async def main(turns: int, concurrency: int) -> dict[str, object]:
    fake = FakeUpstream().start()
    fake.chunk_delay = 0.0
    fake.scope = (
        "GIGACHAT_API_B2B"  # PERS would serialise everything to one request at a time
    )
    workdir = Path(tempfile.mkdtemp(prefix="nexus-bench-"))
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        DATABASE_URL=os.environ.get(
            "BENCH_DATABASE_URL", f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        ),
        GIGACHAT_API_KEY=fake.credentials,
        GIGACHAT_SCOPE="GIGACHAT_API_B2B",
        GIGACHAT_BASE_URL=fake.gigachat_base_url,
        GIGACHAT_AUTH_URL=fake.gigachat_auth_url,
        OPENROUTER_API_KEY=fake.openrouter_api_key,
        OPENROUTER_BASE_URL=fake.openrouter_base_url,
        LOG_LEVEL="ERROR",
    )
    engine = create_engine(settings)
    await migrations.upgrade(engine)
    await engine.dispose()

    app = create_app(settings)
    server = _Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    async with app.state.session_factory() as session, session.begin():
        admin = await users.create(
            session,
            email="bench@example.com",
            display_name="bench",
            password="bench-password",
            role=UserRole.ADMIN,
        )
        token = (await auth.issue(session, settings, admin)).token

    results: dict[str, object] = {}
    results["fake_upstream_alone"] = await sdk_baseline(fake, turns)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as client:
        candidate = (
            await client.post(
                "/api/candidates/",
                json={"full_name": "Бенчмарк", "resume_text": "Python " * 300},
            )
        ).json()

        async def blocking(i: int) -> float:
            started = time.perf_counter()
            response = await client.post(
                "/api/chat/",
                json={
                    "candidate_id": candidate["id"],
                    "role": "user",
                    "content": f"Вопрос {i}",
                },
            )
            assert response.status_code == 201, response.text
            return time.perf_counter() - started

        async def first_delta(i: int) -> float:
            started = time.perf_counter()
            body = {
                "candidate_id": candidate["id"],
                "role": "user",
                "content": f"Поток {i}",
            }
            elapsed: float | None = None
            async with client.stream("POST", "/api/chat/stream", json=body) as response:
                async for line in response.aiter_lines():
                    if line == "event: delta" and elapsed is None:
                        elapsed = time.perf_counter() - started
            assert elapsed is not None, "no delta"
            return elapsed

        await timed(10, 1, blocking)  # warm-up: OAuth, connection pools, SQLite pages
        results["post_chat_sequential"] = percentiles(await timed(turns, 1, blocking))
        results[f"post_chat_concurrency_{concurrency}"] = percentiles(
            await timed(turns, concurrency, blocking)
        )
        results["stream_first_delta_sequential"] = percentiles(
            await timed(turns, 1, first_delta)
        )
        fake.gigachat.set_default(Fault.status(503))
        results["post_chat_with_fallback_sequential"] = percentiles(
            await timed(turns // 2, 1, blocking)
        )
        fake.gigachat.set_default(None)
        history = await client.get(f"/api/chat/{candidate['id']}")
        results["history_messages"] = len(history.json())
        started = time.perf_counter()
        for _ in range(20):
            await client.get(f"/api/chat/{candidate['id']}")
        results["get_history_ms_avg"] = round(
            (time.perf_counter() - started) / 20 * 1000, 1
        )

    server.should_exit = True
    await task
    fake.stop()
    results["peak_rss_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    results["database"] = settings.DATABASE_URL.split(":")[0]
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    print(
        json.dumps(
            asyncio.run(main(args.turns, args.concurrency)),
            ensure_ascii=False,
            indent=2,
        )
    )
