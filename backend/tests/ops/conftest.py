"""A throwaway CA (trustme), the fake upstream behind TLS, and the operator scripts run as real subprocesses."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from tests.fake_upstream import FakeUpstream
from tests.utils.app import REPO_ROOT

NEXUS_AI = Path(sys.executable).with_name("nexus-ai")


@dataclass(frozen=True)
class ThrowawayCA:
    ca_file: Path
    pem: bytes

    @property
    def der(self) -> bytes:
        return ssl.PEM_cert_to_DER_cert(self.pem.decode("ascii"))


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[ThrowawayCA, Path, Path]:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("tls")
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca.cert_pem.write_to_path(str(ca_file))
    server.private_key_pem.write_to_path(str(key_file))
    cert_file.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    return ThrowawayCA(ca_file, ca.cert_pem.bytes()), cert_file, key_file


@pytest.fixture(scope="session")
def tls_fake_server(test_ca: tuple[ThrowawayCA, Path, Path]) -> Iterator[FakeUpstream]:
    _, cert_file, key_file = test_ca
    server = FakeUpstream(ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tls_fake(tls_fake_server: FakeUpstream) -> Iterator[FakeUpstream]:
    tls_fake_server.reset()
    yield tls_fake_server
    tls_fake_server.reset()


@pytest.fixture
def ca(test_ca: tuple[ThrowawayCA, Path, Path]) -> ThrowawayCA:
    return test_ca[0]


def upstream_env(fake: FakeUpstream) -> dict[str, str]:
    return {
        "GIGACHAT_BASE_URL": fake.gigachat_base_url,
        "GIGACHAT_AUTH_URL": fake.gigachat_auth_url,
        "OPENROUTER_BASE_URL": fake.openrouter_base_url,
        "OPENROUTER_API_KEY": fake.openrouter_api_key,
    }


@dataclass
class Scripts:
    """The root scripts and `nexus-ai`, run from the repository root with a clean environment, so neither
    the developer's keys nor the repository's own `.env` can take part."""

    home: Path
    env_file: Path

    def run(
        self, command: list[str], *, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        clean = {"PATH": os.environ["PATH"], "HOME": str(self.home), "PYTHONIOENCODING": "utf-8", **(env or {})}
        return subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=clean,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def setup(
        self, client_id: str, secret: str, *extra: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "setup_gigachat.py", "--client-id", client_id, "--secret-stdin"]
        return self.run([*command, "--env-file", str(self.env_file), *extra], env=env, stdin=secret + "\n")

    def check(self, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.run([sys.executable, "test_gigachat.py", "--env-file", str(self.env_file), *extra], env=env)


@pytest.fixture
def scripts(tmp_path: Path) -> Scripts:
    home = tmp_path / "home"
    home.mkdir()
    return Scripts(home, tmp_path / "config" / ".env")


def closed_port() -> int:
    """A port nothing listens on (bound and released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
