"""The app as separate operating-system processes (`nexus-ai serve`), for scale-out and crash tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.fake_upstream import FakeUpstream
from tests.utils.app import Database, fake_values

NEXUS_AI = Path(sys.executable).with_name("nexus-ai")
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def instance_env(fake: FakeUpstream, database: Database, data_dir: Path, **overrides: Any) -> dict[str, str]:
    """The environment of one instance: `fake_values` (the test's database and the fake providers) plus
    `overrides` (lists comma-separated)."""
    values: dict[str, Any] = {**fake_values(fake, database), "DATA_DIR": data_dir, **overrides}
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GIGACHAT_", "OPENROUTER_", "LLM_", "TURN_", "REDIS_"))
    }
    for key, value in values.items():
        env[key] = ",".join(value) if isinstance(value, list) else str(value)
    return env


@dataclass
class Instance:
    """One `nexus-ai serve` (with its workers) on its own port."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, token: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self.base_url, timeout=60.0, headers={"Authorization": f"Bearer {token}"})
        self.clients.append(client)
        return client

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no clean-up, exactly like a crashed machine (workers included)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    async def stop(self) -> None:
        for client in self.clients:
            await client.aclose()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, 15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


async def start_instance(env: dict[str, str], log: Path, *, workers: int = 1) -> Instance:
    port = free_port()
    command = [str(NEXUS_AI), "serve", "--port", str(port), "--workers", str(workers)]
    with log.open("wb") as out:
        # Its own process group, so a SIGKILL reaches uvicorn's workers too.
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    instance = Instance(process, f"http://127.0.0.1:{port}", log)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    async with httpx.AsyncClient(base_url=instance.base_url, timeout=2.0) as probe:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"instance exited during start-up:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                if (await probe.get("/health")).status_code == 200:
                    return instance
            except httpx.TransportError:
                pass
            if loop.time() > deadline:
                await instance.stop()
                raise RuntimeError(f"instance did not start:\n{log.read_text(errors='replace')[-3000:]}")
            await asyncio.sleep(0.1)
