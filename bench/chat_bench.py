"""Side-by-side cost of a chat turn: Nexus vs a direct `gigachat` SDK call to the same fake, in one run.

    make bench                                     # PostgreSQL and SQLite, prints the table
    .venv/bin/python bench/chat_bench.py --repeat 3 --databases postgresql,sqlite [--json out.json]

For each database it starts, as separate processes: the fake GigaChat (bench/fake_server.py, answering with
no latency unless told otherwise) and one Nexus server (`nexus-ai serve`, a real uvicorn process) on a fresh
database (PostgreSQL: a database it creates on BENCH_PG_URL and drops at the end; SQLite: a temp file). The
same client process then measures:

- one chat at a time: `POST /api/chat/` vs the SDK's `astream` of the same prompt, p50 / p99;
- 50 at a time: the same, throughput (turns/s) and p50 / p99;
- server CPU per turn: the server process's CPU time (/proc/<pid>/stat) over the 50-at-a-time batch / turns;
- 200 concurrent chats with the fake answering after 1 s: wall time until all 200 are answered;
- `GET /api/chat/{id}` of a 200-message candidate in a 10,000-message table, p50;
- the server's RSS while 200 streams (`POST /api/chat/stream`) are open.

With `--repeat N` every database is measured N times on a fresh server and database; the table shows medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from gigachat import GigaChat

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "backend"))

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RESUME = "Python-разработчик, 6 лет опыта: FastAPI, PostgreSQL, Redis, Docker, Kubernetes. " * 30
QUESTION = "Какой у кандидата опыт с PostgreSQL?"
SYSTEM_PROMPT = "Вы — HR-ассистент рекрутера.\n" + RESUME
HISTORY_TOTAL = 10_000
HISTORY_TARGET = 200
PASSWORD = "bench-password-123"


# ----------------------------------------------------------------------------- helpers


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_batch(count: int, concurrency: int, call: Callable[[int], Awaitable[float]]) -> tuple[list[float], float]:
    """`count` calls, `concurrency` at a time; returns each call's latency and the batch's wall time."""
    queue = iter(range(count))
    samples: list[float] = []

    async def worker() -> None:
        for i in queue:
            samples.append(await call(i))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples, time.perf_counter() - started


async def crowd_wall(
    base: str,
    headers: httpx.Headers | dict[str, str],
    warm_path: str,
    fake: Fake,
    turn: Callable[[int, httpx.AsyncClient], Awaitable[float]],
) -> float:
    """Wall time of 200 turns at once with the fake answering after 1 s. 200 recruiters, each with a browser
    already connected: one httpx client would spend more CPU on its own pool of 200 connections (a walk over all
    of them per request) than the server on the turns, on the same two cores. So 20 clients of 10 connections
    each, connected (`warm_path`) before the clock."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=2)
    crowd = [httpx.AsyncClient(base_url=base, timeout=120, limits=limits, headers=headers) for _ in range(20)]
    try:
        await asyncio.gather(*(crowd[i % 20].get(warm_path) for i in range(200)))
        fake.latency(1.0)
        _, wall = await run_batch(200, 200, lambda i: turn(i, crowd[i % 20]))
        fake.latency(0)
        return wall
    finally:
        for member in crowd:
            await member.aclose()


class Fake:
    """bench/fake_server.py in its own process."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "fake_server.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.info: dict[str, str] = json.loads(self.proc.stdout.readline())

    def latency(self, seconds: float) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"latency {seconds}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(10)


# ----------------------------------------------------------------------------- databases


async def create_pg_database() -> tuple[str, str]:
    import asyncpg

    name = f"nexus_bench_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    # A query is kept: `?host=/var/run/postgresql` reaches the server through its Unix socket.
    url, _, query = PG_URL.partition("?")
    base = url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return name, f"{base}/{name}" + (f"?{query}" if query else "")


async def drop_pg_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def seed_history(database_url: str, candidate_ids: list[int], target_id: int) -> None:
    """HISTORY_TARGET messages for `target_id`, the rest of HISTORY_TOTAL spread over the other candidates."""
    from sqlalchemy import insert
    from sqlalchemy.ext.asyncio import create_async_engine

    from app.models import ChatMessage

    engine = create_async_engine(database_url)
    start = datetime.now(UTC) - timedelta(days=30)
    rows: list[dict[str, Any]] = []
    others = HISTORY_TOTAL - HISTORY_TARGET
    owners = [target_id] * HISTORY_TARGET + [candidate_ids[i % len(candidate_ids)] for i in range(others)]
    for i, owner in enumerate(owners):
        assistant = i % 2 == 1
        rows.append(
            {
                "candidate_id": owner,
                "role": "assistant" if assistant else "user",
                "content": ("Кандидат работал с PostgreSQL 5 лет, проектировал схемы и индексы. " * 6)
                if assistant
                else QUESTION,
                "created_at": start + timedelta(seconds=i),
                "status": "ok",
                "provider": "gigachat" if assistant else None,
                "model": "GigaChat-2" if assistant else None,
                "prompt_tokens": 900 if assistant else None,
                "completion_tokens": 60 if assistant else None,
                "latency_ms": 800 if assistant else None,
                "ttft_ms": 200 if assistant else None,
                "attempts": [],
            }
        )
    async with engine.begin() as conn:
        for offset in range(0, len(rows), 1000):
            await conn.execute(insert(ChatMessage), rows[offset : offset + 1000])
    await engine.dispose()


# ----------------------------------------------------------------------------- one measurement


def gigachat_env(fake: Fake, workdir: Path) -> dict[str, str]:
    """A server's environment with GigaChat on the fake, as a B2B account with room for the team: the chain's own
    limits must not be what is measured."""
    info = fake.info
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(workdir)),
        "GIGACHAT_API_KEY": info["credentials"],
        "GIGACHAT_SCOPE": info["scope"],
        "GIGACHAT_BASE_URL": info["gigachat_base_url"],
        "GIGACHAT_AUTH_URL": info["gigachat_auth_url"],
        "GIGACHAT_MAX_CONCURRENCY": "400",
    }


async def wait_started(proc: subprocess.Popen[bytes], base: str, failure: str, seconds: float = 30) -> None:
    """Until `base`/health answers; `failure` if the process exits first or takes `seconds`."""
    async with httpx.AsyncClient() as client:
        for _ in range(int(seconds * 10)):
            try:
                if (await client.get(f"{base}/health")).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
    raise RuntimeError(failure)


class Server:
    """`nexus-ai serve` as a subprocess against `database_url` and the fake."""

    def __init__(self, database_url: str, fake: Fake, workdir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        info = fake.info
        self.env = {
            **gigachat_env(fake, workdir),
            "ENVIRONMENT": "production",
            "DATABASE_URL": database_url,
            "DATA_DIR": str(workdir / "data"),
            "OPENROUTER_API_KEY": info["openrouter_api_key"],
            "OPENROUTER_BASE_URL": info["openrouter_base_url"],
            "OPENROUTER_MAX_CONCURRENCY": "400",
            "LLM_QUEUE_SIZE": "400",
            "GIGACHAT_DAILY_LIMIT": "1000000",
            "LOG_LEVEL": "INFO",
        }
        self.log = open(workdir / "server.log", "ab")
        self.proc: subprocess.Popen[bytes] | None = None
        self.wrap: list[str] = []
        """A command the server runs under (`profile_turns.py --callgrind`: valgrind)."""

    def cli(self, *args: str, stdin: str | None = None) -> None:
        subprocess.run(
            [str(BIN / "nexus-ai"), *args],
            env=self.env,
            input=stdin.encode() if stdin else None,
            check=True,
            stdout=self.log,
            stderr=self.log,
        )

    def prepare(self) -> None:
        """Migrate the fresh database and create the bench's admin (the one `login` signs in as)."""
        self.cli("db", "upgrade")
        self.cli(
            "create-user", "--email", "bench@example.com", "--name", "bench", "--role", "admin", "--password-stdin",
            stdin=PASSWORD + "\n",
        )  # fmt: skip

    async def start(self) -> None:
        self.proc = subprocess.Popen(
            [*self.wrap, str(BIN / "nexus-ai"), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdout=self.log,
            stderr=self.log,
        )
        # Under valgrind the start takes tens of times longer.
        await wait_started(
            self.proc, self.base, f"server did not start; see {self.log.name}", 600 if self.wrap else 30
        )

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(600 if self.wrap else 60)
        self.log.close()


def direct_call(fake: Fake) -> tuple[GigaChat, Callable[[int], Awaitable[float]]]:
    """The SDK client and one timed direct call: the SDK's `astream` of what Nexus sends for a turn (the system
    prompt with the resume, the question)."""
    info = fake.info
    sdk = GigaChat(
        base_url=info["gigachat_base_url"],
        auth_url=info["gigachat_auth_url"],
        credentials=info["credentials"],
        scope=info["scope"],
        model="GigaChat-2",
        timeout=120,
        max_connections=400,
    )
    payload = {
        "model": "GigaChat-2",
        "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": QUESTION}],
        "temperature": 0.7,
        "max_tokens": 2000,
    }

    async def direct(_: int) -> float:
        started = time.perf_counter()
        async for _chunk in sdk.astream(payload):
            pass
        return time.perf_counter() - started

    return sdk, direct


def floor_server(fake: Fake, port: int) -> tuple[list[str], dict[str, str]]:
    """The command and environment of `floor_app.py` under uvicorn on `port`, against `fake`."""
    env = {**gigachat_env(fake, Path(tempfile.gettempdir())), "FLOOR_SYSTEM_PROMPT": SYSTEM_PROMPT}
    command = [str(BIN / "uvicorn"), "floor_app:create_app", "--factory", "--app-dir", str(ROOT / "bench")]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"]
    return command, env


async def measure_floor(args: argparse.Namespace) -> dict[str, float]:
    """`floor_app.py` (the same SDK call behind a bare FastAPI endpoint) under uvicorn against its own fake, with
    the direct call in the same run: one at a time, its server CPU and rate at 50 at a time, and 200 at once with
    the 1 s upstream."""
    fake = Fake()
    port = free_port()
    command, env = floor_server(fake, port)
    proc = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    out: dict[str, float] = {}
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=2)
    try:
        await wait_started(proc, base, "floor_app did not start")
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:

            async def turn(_: int) -> float:
                started = time.perf_counter()
                response = await client.post(
                    "/api/chat/", json={"candidate_id": 1, "role": "user", "content": QUESTION}
                )
                elapsed = time.perf_counter() - started
                if response.status_code != 201 or not response.json()["assistant_message"]["content"]:
                    raise RuntimeError(f"floor turn failed: {response.status_code} {response.text[:300]}")
                return elapsed

            sdk, direct = direct_call(fake)
            await run_batch(30, 1, turn)
            await run_batch(30, 1, direct)
            seq, _ = await run_batch(args.turns, 1, turn)
            seq_direct, _ = await run_batch(args.turns, 1, direct)
            out["floor_seq_p50"], out["floor_seq_p99"] = ms(quantile(seq, 0.5)), ms(quantile(seq, 0.99))
            out["floor_direct_p50"], out["floor_direct_p99"] = (
                ms(quantile(seq_direct, 0.5)),
                ms(quantile(seq_direct, 0.99)),
            )
            cpu_before = cpu_seconds(proc.pid)
            _, wall = await run_batch(args.parallel_turns, 50, turn)
            out["floor_cpu_ms_per_turn"] = round((cpu_seconds(proc.pid) - cpu_before) * 1000 / args.parallel_turns, 2)
            out["floor_par_rate"] = round(args.parallel_turns / wall, 1)
            await sdk.aclose()

            async def crowd_turn(_: int, via: httpx.AsyncClient) -> float:
                response = await via.post("/api/chat/", json={"candidate_id": 1, "role": "user", "content": QUESTION})
                response.raise_for_status()
                return 0.0

            out["floor_c200_wall_s"] = round(await crowd_wall(base, {}, "/health", fake, crowd_turn), 2)
    finally:
        proc.terminate()
        proc.wait(60)
        fake.stop()
    return out


async def measure(database: str, args: argparse.Namespace) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="nexus-bench-"))
    pg_name: str | None = None
    if database == "postgresql":
        pg_name, database_url = await create_pg_database()
    else:
        database_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    fake = Fake()
    server = Server(database_url, fake, workdir)
    for setting in args.env:  # e.g. DATABASE_POOL_SIZE=10: a setting's effect measured without editing code
        name, _, value = setting.partition("=")
        server.env[name] = value
    out: dict[str, float] = {}
    try:
        server.prepare()
        await server.start()
        assert server.proc is not None
        pid = server.proc.pid
        # Idle connections expire before uvicorn's 5 s keep-alive does, so no request meets a closing socket.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=2)
        async with httpx.AsyncClient(base_url=server.base, timeout=120, limits=limits) as client:
            login = await client.post("/api/auth/login", data={"username": "bench@example.com", "password": PASSWORD})
            login.raise_for_status()
            client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            client.cookies.clear()  # bearer only: cookie writes would need the CSRF header
            candidates: list[int] = []
            for i in range(50):
                response = await client.post(
                    "/api/candidates/",
                    json={"full_name": f"Кандидат {i}", "position": "Backend", "resume_text": RESUME},
                )
                response.raise_for_status()
                candidates.append(response.json()["id"])
            target = (
                await client.post("/api/candidates/", json={"full_name": "История", "resume_text": RESUME})
            ).json()["id"]
            await seed_history(database_url, candidates, target)

            async def turn(i: int, via: httpx.AsyncClient | None = None) -> float:
                started = time.perf_counter()
                response = await (via or client).post(
                    "/api/chat/",
                    json={"candidate_id": candidates[i % len(candidates)], "role": "user", "content": QUESTION},
                )
                elapsed = time.perf_counter() - started
                if response.status_code != 201:
                    raise RuntimeError(f"turn failed: {response.status_code} {response.text[:300]}")
                if response.json()["assistant_message"]["provider"] != "gigachat":
                    raise RuntimeError("the turn was not answered by GigaChat: the bench measured a fallback")
                return elapsed

            sdk, direct = direct_call(fake)

            await run_batch(30, 1, turn)  # warm-up: OAuth, pools, caches
            await run_batch(30, 1, direct)

            seq, _ = await run_batch(args.turns, 1, turn)
            seq_direct, _ = await run_batch(args.turns, 1, direct)
            out["seq_p50"], out["seq_p99"] = ms(quantile(seq, 0.5)), ms(quantile(seq, 0.99))
            out["seq_direct_p50"], out["seq_direct_p99"] = ms(quantile(seq_direct, 0.5)), ms(quantile(seq_direct, 0.99))

            cpu_before = cpu_seconds(pid)
            par, wall = await run_batch(args.parallel_turns, 50, turn)
            out["cpu_ms_per_turn"] = round((cpu_seconds(pid) - cpu_before) * 1000 / args.parallel_turns, 2)
            par_direct, wall_direct = await run_batch(args.parallel_turns, 50, direct)
            out["par_p50"], out["par_p99"] = ms(quantile(par, 0.5)), ms(quantile(par, 0.99))
            out["par_direct_p50"], out["par_direct_p99"] = ms(quantile(par_direct, 0.5)), ms(quantile(par_direct, 0.99))
            out["par_rate"] = round(args.parallel_turns / wall, 1)
            out["par_direct_rate"] = round(args.parallel_turns / wall_direct, 1)
            await sdk.aclose()

            history: list[float] = []
            cpu_before = cpu_seconds(pid)
            for _ in range(args.history_reads):
                started = time.perf_counter()
                response = await client.get(f"/api/chat/{target}")
                history.append(time.perf_counter() - started)
                if len(response.json()) != HISTORY_TARGET:
                    raise RuntimeError("unexpected history length")
            out["history_p50"] = ms(quantile(history, 0.5))
            out["history_cpu_ms"] = round((cpu_seconds(pid) - cpu_before) * 1000 / args.history_reads, 2)

            wall_200 = await crowd_wall(server.base, client.headers, "/api/auth/me", fake, turn)
            out["c200_wall_s"] = round(wall_200, 2)

            fake.latency(3.0)
            opened = 0
            peak = rss_mb(pid)

            async def stream(i: int) -> float:
                nonlocal opened
                body = {"candidate_id": candidates[i % len(candidates)], "role": "user", "content": QUESTION}
                done = False
                async with streamer.stream("POST", "/api/chat/stream", json=body) as response:
                    response.raise_for_status()
                    async for line in response.aiter_lines():
                        if line == "event: start":
                            opened += 1
                        elif line == "event: done":
                            done = True
                if not done:
                    raise RuntimeError("a stream ended without `done`")
                return 0.0

            streamer = httpx.AsyncClient(base_url=server.base, timeout=120, limits=limits, headers=client.headers)
            streams = asyncio.ensure_future(run_batch(200, 200, stream))
            while not streams.done():
                peak = max(peak, rss_mb(pid))
                await asyncio.sleep(0.05)
            await streams
            await streamer.aclose()
            if opened != 200:
                raise RuntimeError(f"only {opened} of 200 streams started")
            out["rss_200_streams_mb"] = peak
            fake.latency(0)
    finally:
        server.stop()
        fake.stop()
        if pg_name is not None:
            await drop_pg_database(pg_name)
    return out


# ----------------------------------------------------------------------------- the table


ROWS: list[tuple[str, Callable[[dict[str, float]], str], str]] = [
    (
        "one chat at a time, p50 / p99 (ms)",
        lambda r: (
            f"{r['seq_p50']} / {r['seq_p99']} (direct {r['seq_direct_p50']} / {r['seq_direct_p99']}; "
            f"+{r['seq_p50'] - r['seq_direct_p50']:.1f} / +{r['seq_p99'] - r['seq_direct_p99']:.1f})"
        ),
        "overhead ≤ +3 / +10",
    ),
    (
        "50 at a time, p50 / p99 (ms)",
        lambda r: f"{r['par_p50']} / {r['par_p99']} (direct {r['par_direct_p50']} / {r['par_direct_p99']})",
        "",
    ),
    (
        "50 at a time, turns/s",
        lambda r: (
            f"{r['par_rate']} (direct {r['par_direct_rate']}; {100 * r['par_rate'] / r['par_direct_rate']:.0f} %)"
        ),
        "≥ 50 % of direct",
    ),
    ("200 concurrent, upstream 1 s: wall (s)", lambda r: f"{r['c200_wall_s']}", "≤ 1.5"),
    ("server CPU per turn (ms)", lambda r: f"{r['cpu_ms_per_turn']}", "≤ 3"),
    (
        "history, 200 of 10k messages, p50 (ms)",
        lambda r: f"{r['history_p50']} (server CPU {r['history_cpu_ms']} per read)",
        "≤ 5",
    ),
    ("RSS with 200 open streams (MB)", lambda r: f"{r['rss_200_streams_mb']}", "≤ 200"),
]


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(run[key] for run in runs), 2) for key in runs[0]}


def table(results: dict[str, dict[str, float]], repeat: int, floor: dict[str, float] | None = None) -> str:
    names = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}
    header = "| measure | " + " | ".join(names[d] for d in results) + " | goal |"
    lines = [header, "|---" * (len(results) + 2) + "|"]
    for label, cell, goal in ROWS:
        lines.append(f"| {label} | " + " | ".join(cell(r) for r in results.values()) + f" | {goal} |")
    cpu = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    if floor:
        lines.append("")
        lines.append(
            "The floor, in the same run: the same SDK call behind a bare FastAPI endpoint under uvicorn, no database "
            f"(bench/floor_app.py): one at a time {floor['floor_seq_p50']} / {floor['floor_seq_p99']} ms "
            f"(direct {floor['floor_direct_p50']} / {floor['floor_direct_p99']}; "
            f"+{floor['floor_seq_p50'] - floor['floor_direct_p50']:.1f} / "
            f"+{floor['floor_seq_p99'] - floor['floor_direct_p99']:.1f}), "
            f"{floor['floor_cpu_ms_per_turn']} ms of server CPU per turn, {floor['floor_par_rate']} turns/s at 50 "
            f"at a time, and {floor['floor_c200_wall_s']} s for 200 concurrent turns with the 1 s upstream."
        )
    lines.append("")
    lines.append(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPU ({cpu}), Python {platform.python_version()}, "
        f"median of {repeat} run(s) per database."
    )
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    results: dict[str, dict[str, float]] = {}
    raw: dict[str, list[dict[str, float]]] = {}
    for database in args.databases.split(","):
        raw[database] = []
        for i in range(args.repeat):
            print(f"… {database}, run {i + 1} of {args.repeat}", file=sys.stderr, flush=True)
            raw[database].append(await measure(database, args))
            print(json.dumps(raw[database][-1]), file=sys.stderr, flush=True)
        results[database] = median_run(raw[database])
    floors: list[dict[str, float]] = []
    for i in range(args.repeat if args.floor else 0):
        print(f"… the floor (bench/floor_app.py), run {i + 1} of {args.repeat}", file=sys.stderr, flush=True)
        floors.append(await measure_floor(args))
        print(json.dumps(floors[-1]), file=sys.stderr, flush=True)
    floor = median_run(floors) if floors else None
    if args.json:
        Path(args.json).write_text(
            json.dumps({"median": results, "runs": raw, "floor": floor, "floor_runs": floors}, indent=2)
        )
    print(table(results, args.repeat, floor))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--turns", type=int, default=300, help="one-at-a-time turns per side")
    parser.add_argument("--parallel-turns", type=int, default=1000, help="turns per side at 50 at a time")
    parser.add_argument("--history-reads", type=int, default=100)
    parser.add_argument(
        "--no-floor", dest="floor", action="store_false", help="skip the bare FastAPI endpoint (bench/floor_app.py)"
    )
    parser.add_argument("--json", help="also write every run's figures to this file")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="a setting for the Nexus server (repeatable)"
    )
    asyncio.run(main(parser.parse_args()))
