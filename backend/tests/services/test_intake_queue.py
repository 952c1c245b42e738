"""The intake queue's multi-worker mode: Redis stream, `nexus-ai worker` processes, the app only enqueues.
Runs on PostgreSQL; needs Redis (TEST_REDIS_URL; CI starts one)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.fake_upstream import FakeUpstream, Fault
from tests.utils.app import REPO_ROOT, Database, StartApp, fake_settings, wait_until
from tests.utils.intake import DOCX_TYPE, draft, resume_docx, upload_batch, wait_for_batch
from tests.utils.redis import REDIS_URL, redis_for_test

# Several worker processes are a server deployment: PostgreSQL. (On SQLite this test passed alone but timed out
# once inside the full suite; the embedded single-process default is covered by tests/services/test_intake.py.)
pytestmark = [
    pytest.mark.parametrize("database_session", ["postgres"], indirect=True),
    # Known failure after the merge with the Redis-backed GigaChat limiter: the batch does not finish within 90 s
    # in a full run (it passes alone). Kept visible, not hidden: see the closing note of issue 13.
]


@pytest.fixture
async def redis_queue() -> AsyncIterator[tuple[str, str]]:
    """A Redis URL and a queue name of this test only; the stream is deleted afterwards."""
    async with redis_for_test():  # fails in CI, skips locally, when Redis is unreachable
        pass
    name = f"nexus-test-intake-{uuid.uuid4().hex[:12]}"
    client = aioredis.from_url(REDIS_URL)
    try:
        yield REDIS_URL, name
    finally:
        await client.delete(name, f"autoclaim:{name}-workers:{name}")
        keys = [key async for key in client.scan_iter(match=f"{name}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def _env(settings: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIGACHAT_", "OPENROUTER_", "DATABASE_"))}
    for name in (
        "DATABASE_URL",
        "GIGACHAT_API_KEY",
        "GIGACHAT_SCOPE",
        "GIGACHAT_BASE_URL",
        "GIGACHAT_AUTH_URL",
        "OPENROUTER_API_KEY",
        "OPENROUTER_BASE_URL",
        "DATA_DIR",
        "REDIS_URL",
        "REDIS_PREFIX",
        "LLM_LEASE_SECONDS",
        "INTAKE_QUEUE_NAME",
        "INTAKE_LEASE_SECONDS",
        "LLM_BREAKER_FAILURES",
    ):
        value = getattr(settings, name)
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[name] = str(value)
    env["LOG_LEVEL"] = "INFO"
    return env


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[Any, int], subprocess.Popen[bytes]]]:
    """Start `nexus-ai worker --workers N` (its own process group); every group is stopped afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(settings: Any, count: int) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"worker-{len(started)}.log", "wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", "--workers", str(count)],
            cwd=REPO_ROOT / "backend",
            env=_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        stop(process)


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def test_several_worker_processes_parse_a_batch_and_a_killed_worker_loses_nothing(
    start_app: StartApp,
    fake: FakeUpstream,
    database: Database,
    redis_queue: tuple[str, str],
    workers: Callable[[Any, int], subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    url, queue = redis_queue
    settings = fake_settings(
        fake,
        database,
        DATA_DIR=tmp_path / "data",
        REDIS_URL=url,
        # REDIS_URL also moves the GigaChat slots into Redis: this test's own keys, and a killed worker's slot
        # comes free within seconds.
        REDIS_PREFIX=queue,
        LLM_LEASE_SECONDS=3,
        INTAKE_QUEUE_NAME=queue,
        INTAKE_LEASE_SECONDS=3,
    )
    fake.gigachat.set_default(Fault(structured=draft(), chunk_delay=0.4))
    api = await start_app(settings)
    first = workers(settings, 2)
    log = tmp_path / "worker-0.log"

    async def both_listening() -> bool:
        # Readiness only (nothing is asserted on logs): both processes have subscribed to the stream.
        return log.read_text(errors="replace").count("Listening started.") >= 2

    await wait_until(both_listening, timeout=60)

    files = [
        (f"cv{i}.docx", resume_docx(f"Кандидат Номер{i}", f"p{i}@example.com", f"+7 913 000-00-0{i}"), DOCX_TYPE)
        for i in range(6)
    ]
    started = await upload_batch(api.client, files)
    assert started["total"] == 6

    # Kill the first workers without warning once they are busy; fresh ones finish every job.
    async def some_done() -> bool:
        body = (await api.client.get(f"/api/intake/batches/{started['id']}")).json()
        return bool(body["done"] >= 1)

    await wait_until(some_done, timeout=60)
    stop(first, signal.SIGKILL)
    workers(settings, 2)
    finished = await wait_for_batch(api.client, started["id"], timeout=90)
    assert finished["counts"]["ready"] == 6, finished
    # Several worker processes took jobs, and the jobs of the killed ones were taken again.
    jobs = [(await api.client.get(f"/api/intake/jobs/{j['id']}")).json() for j in finished["jobs"]]
    assert len({j["worker"] for j in jobs}) >= 2
