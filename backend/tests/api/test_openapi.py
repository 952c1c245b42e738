"""A schema fuzzer over every operation of the OpenAPI document, against the real server process on SQLite and
on PostgreSQL, logged in as an admin: no server error, and every response as the document describes it.

Bounded for CI by FUZZ_EXAMPLES examples per operation (derandomized, so a run is repeatable).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.core.config import Settings
from app.main import create_app
from tests.utils.app import ADMIN_EMAIL, ADMIN_PASSWORD, IN_CI, create_postgres_database
from tests.utils.server import BACKEND, ServerProcess, run_server

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SERVER_SETTINGS = {
    "FIRST_SUPERUSER": ADMIN_EMAIL,
    "FIRST_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
    # The fuzzer logs in with made-up emails all the time: it must not lock its own address out.
    "LOGIN_MAX_FAILURES_PER_ADDRESS": "1000000",
    "LOGIN_MAX_FAILURES_PER_ACCOUNT": "1000000",
    "LOGIN_SLOWDOWN_SECONDS": "0",
}


@dataclass
class FuzzTarget:
    server: ServerProcess
    token: str = ""
    admin_id: int = 0
    other_user_id: int = 0
    session: requests.Session = field(default_factory=requests.Session)

    def log_in(self) -> None:
        response = httpx.post(
            f"{self.server.base_url}/api/auth/login",
            data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        self.token = response.json()["access_token"]
        self.admin_id = response.json()["user"]["id"]


def _database_url(backend: str, tmp: Path) -> tuple[str, Any]:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / 'fuzz.db'}", None
    admin_url = os.environ.get("TEST_DATABASE_URL")
    if not admin_url:
        if IN_CI:
            pytest.fail("TEST_DATABASE_URL is not set: CI must run the suite on PostgreSQL too")
        pytest.skip("PostgreSQL half skipped: set TEST_DATABASE_URL to run it")
    return asyncio.run(create_postgres_database(admin_url))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzz_target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    tmp = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    url, drop = _database_url(request.param, tmp)
    try:
        env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": str(tmp / "data")}
        subprocess.run([sys.executable, "-m", "app.cli", "db", "upgrade"], cwd=BACKEND, env=env, check=True)
        with run_server(url, tmp / "data", **SERVER_SETTINGS) as server:
            assert httpx.get(f"{server.base_url}/openapi.json").json() == DOCUMENT
            target = FuzzTarget(server)
            target.log_in()
            client = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {target.token}"})
            with client:
                # Something to find: ids 1 exist for a candidate, a vacancy, a chat message and a consent.
                vacancy = client.post("/api/vacancies/", json={"title": "Python-разработчик"}).json()
                candidate = client.post(
                    "/api/candidates/",
                    json={"full_name": "Иван Петров", "vacancy_id": vacancy["id"], "resume_text": "Python, SQL"},
                ).json()
                client.post(
                    f"/api/candidates/{candidate['id']}/consents",
                    json={"scope": "vacancy", "text_version": "v1", "channel": "email"},
                )
                other = client.post(
                    "/api/users/",
                    json={"email": "other@example.com", "display_name": "Другой", "password": "long enough password"},
                )
                target.other_user_id = other.json()["id"]
            with target.session:
                yield target
    finally:
        if drop is not None:
            asyncio.run(drop())


def _document() -> dict[str, Any]:
    """The app's OpenAPI document (the fixture checks that the running server serves this very document)."""
    settings = Settings(_env_file=None, DATABASE_URL="sqlite+aiosqlite://")  # type: ignore[call-arg]
    return create_app(settings).openapi()


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: Any, fuzz_target: FuzzTarget) -> None:
    if case.path == "/api/auth/logout":
        fuzz_target.log_in()  # logging out ends the fuzzer's login: give it one of its own
    if case.path == "/api/users/{user_id}" and str((case.path_parameters or {}).get("user_id")) == str(
        fuzz_target.admin_id
    ):
        # A new password for the fuzzing admin would end its login for every later case: change another user.
        case.path_parameters["user_id"] = str(fuzz_target.other_user_id)
    response = case.call_and_validate(
        base_url=fuzz_target.server.base_url,
        session=fuzz_target.session,
        headers={"Authorization": f"Bearer {fuzz_target.token}"},
        checks=CHECKS,
        timeout=30,
    )
    if response.status_code == 401 and case.path != "/api/auth/login":
        fuzz_target.log_in()
    assert fuzz_target.server.process.poll() is None, fuzz_target.server.log()
