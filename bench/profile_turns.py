"""CPU per chat turn on one server, optionally under py-spy: the quick loop for cutting server time.

    .venv/bin/python bench/profile_turns.py --database sqlite --turns 500           # CPU per turn only
    .venv/bin/python bench/profile_turns.py --database postgresql --py-spy /tmp/py-spy --out prof.svg

Starts the same fake and `nexus-ai serve` process as chat_bench.py, warms up, then runs `--turns` blocking
turns (`POST /api/chat/`) `--concurrency` at a time and prints the server's CPU time per turn; with
`--py-spy PATH` it records the server for the batch (py-spy is not a dependency: point at any install).

    .venv/bin/python bench/profile_turns.py --database postgresql --turns 300 --callgrind /tmp/turns.callgrind

With `--callgrind OUT` the server runs under valgrind's callgrind, instrumented only during the batch, and the
script prints the instructions the server executed per turn. On a shared VM the CPU time of the same code moves
by a fifth between runs minutes apart; the instruction count does not, so an A/B of a change of a few per cent
is read from it (the server runs about fifty times slower, so the chain's timeouts are lifted for the run, and
what depends on the clock, such as the login cache's refreshes, happens less often per turn than at full speed).
`callgrind_annotate OUT` shows where the instructions went. `--database floor` runs the same batch against
chat_bench's floor (the SDK call behind a bare FastAPI endpoint): Nexus's count less the floor's is Nexus's own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from chat_bench import (
    PASSWORD,
    QUESTION,
    RESUME,
    Fake,
    Server,
    cpu_seconds,
    create_pg_database,
    drop_pg_database,
    floor_server,
    free_port,
    run_batch,
    wait_started,
)


def system_seconds(pid: int) -> float:
    # stime alone: thread hand-offs and socket calls show up here, not in a Python profile.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[12]) / os.sysconf("SC_CLK_TCK")


async def main(args: argparse.Namespace) -> None:
    if args.database == "floor":
        await profile_floor(args)
        return
    workdir = Path(tempfile.mkdtemp(prefix="nexus-prof-"))
    pg_name = None
    if args.database == "postgresql":
        pg_name, url = await create_pg_database()
    else:
        url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    fake = Fake()
    server = Server(url, fake, workdir)
    try:
        server.prepare()
        if args.echo:
            server.env["DATABASE_ECHO"] = "true"
        if args.callgrind:
            server.wrap = callgrind_command(args.callgrind)
            server.env.update(CALLGRIND_TIMEOUTS)
        await server.start()
        assert server.proc is not None
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=2)
        async with httpx.AsyncClient(base_url=server.base, timeout=120, limits=limits) as client:
            login = await client.post(
                "/api/auth/login",
                data={"username": "bench@example.com", "password": PASSWORD},
            )
            login.raise_for_status()
            client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            client.cookies.clear()
            ids = []
            for i in range(20):
                r = await client.post(
                    "/api/candidates/",
                    json={"full_name": f"К {i}", "resume_text": RESUME},
                )
                r.raise_for_status()
                ids.append(r.json()["id"])

            async def turn(i: int) -> float:
                r = await client.post(
                    "/api/chat/",
                    json={
                        "candidate_id": ids[i % len(ids)],
                        "role": "user",
                        "content": QUESTION,
                    },
                )
                if r.status_code != 201 or r.json()["assistant_message"]["provider"] != "gigachat":
                    raise RuntimeError(f"turn failed: {r.status_code} {r.text[:300]}")
                return 0.0

            print(f"server log: {server.log.name}")
            await measure_batch(args, server.proc.pid, turn)
    finally:
        server.stop()  # callgrind writes its file as the server exits
        fake.stop()
        if pg_name is not None:
            await drop_pg_database(pg_name)
    report_callgrind(args)


async def profile_floor(args: argparse.Namespace) -> None:
    """The same batch against `floor_app.py` (chat_bench's floor: the SDK call behind a bare FastAPI endpoint,
    no database), so that a callgrind count of Nexus can be read against what FastAPI, uvicorn and the SDK
    cost by themselves."""
    fake = Fake()
    port = free_port()
    command, env = floor_server(fake, port)
    if args.callgrind:
        command = [*callgrind_command(args.callgrind), *command]
        env.update(CALLGRIND_TIMEOUTS)
    proc = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=2)
    try:
        await wait_started(proc, base, "floor_app did not start", 600 if args.callgrind else 30)
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:

            async def turn(_: int) -> float:
                r = await client.post("/api/chat/", json={"candidate_id": 1, "role": "user", "content": QUESTION})
                if r.status_code != 201 or not r.json()["assistant_message"]["content"]:
                    raise RuntimeError(f"floor turn failed: {r.status_code} {r.text[:300]}")
                return 0.0

            await measure_batch(args, proc.pid, turn)
    finally:
        proc.terminate()
        proc.wait(600)
        fake.stop()
    report_callgrind(args)


async def measure_batch(args: argparse.Namespace, pid: int, turn: Callable[[int], Awaitable[float]]) -> None:
    """Warm up, then the batch: the server's CPU per turn, recorded by py-spy or counted by callgrind."""
    spy: subprocess.Popen[bytes] | None = None
    await run_batch(50, 5, turn)
    if args.py_spy:
        spy = subprocess.Popen(  # noqa: ASYNC220 (started once, before the batch)
            [
                args.py_spy,
                "record",
                "--pid",
                str(pid),
                "--rate",
                "250",
                "--format",
                args.format,
                "--output",
                args.out,
                # --native reads the stacks of a stopped process only
                *([] if "--native" in args.py_spy_flag else ["--nonblocking"]),
                *args.py_spy_flag,
            ]
        )
        await asyncio.sleep(1.0)
    if args.callgrind:
        callgrind_control("--instr=on", pid)
    before, sys_before = cpu_seconds(pid), system_seconds(pid)
    _, wall = await run_batch(args.turns, args.concurrency, turn)
    cpu = cpu_seconds(pid) - before
    system = system_seconds(pid) - sys_before
    if args.callgrind:
        callgrind_control("--instr=off", pid)
    print(
        f"{args.database}: {args.turns} turns, {cpu * 1000 / args.turns:.2f} ms CPU per turn "
        f"({system * 1000 / args.turns:.2f} of it in the kernel), "
        f"{args.turns / wall:.1f} turns/s"
    )
    if spy is not None:
        spy.send_signal(2)
        spy.wait(60)


def report_callgrind(args: argparse.Namespace) -> None:
    if args.callgrind:
        instructions = callgrind_total(Path(args.callgrind))
        print(f"{args.database}: {instructions / args.turns / 1e6:.2f} M instructions per turn (callgrind)")


def callgrind_command(out: str) -> list[str]:
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]


CALLGRIND_TIMEOUTS = {
    name: "600"
    for name in (
        "GIGACHAT_TIMEOUT",
        "LLM_CONNECT_TIMEOUT",
        "LLM_FIRST_TOKEN_TIMEOUT",
        "LLM_STREAM_IDLE_TIMEOUT",
        "LLM_QUEUE_TIMEOUT",
        "LLM_HEDGE_AFTER",
        "LLM_HEDGE_FOREIGN_AFTER",
        "DATABASE_POOL_TIMEOUT",
    )
} | {"LLM_TOTAL_TIMEOUT": "1200"}


def callgrind_control(flag: str, pid: int) -> None:
    # It exits 0 even when it finds no such run: "OK." is the only sign the command arrived.
    done = subprocess.run(["callgrind_control", flag, str(pid)], check=True, capture_output=True, text=True)
    if "OK." not in done.stdout:
        raise RuntimeError(f"callgrind_control {flag} {pid}: {done.stdout.strip()} {done.stderr.strip()}")


def callgrind_total(path: Path) -> int:
    """The instructions of the instrumented part: the `totals:` line at the end of callgrind's file (the
    `summary:` in its header is written before the counts and stays 0)."""
    found = re.findall(r"^totals:\s*(\d+)", path.read_text(errors="replace"), re.MULTILINE)
    if not found:
        raise RuntimeError(f"no totals in {path}")
    return int(found[-1])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database",
        default="sqlite",
        choices=["sqlite", "postgresql", "floor"],
        help="floor: chat_bench's floor_app (no database) instead of Nexus",
    )
    parser.add_argument("--turns", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--py-spy")
    parser.add_argument(
        "--py-spy-flag", action="append", default=[], help="passed to py-spy record, e.g. --py-spy-flag=--gil"
    )
    parser.add_argument("--echo", action="store_true", help="log every SQL statement to the server log")
    parser.add_argument("--format", default="raw", choices=["raw", "flamegraph", "speedscope"])
    parser.add_argument("--out", default="profile.txt")
    parser.add_argument("--callgrind", metavar="OUT", help="run the server under callgrind; its file goes to OUT")
    asyncio.run(main(parser.parse_args()))
