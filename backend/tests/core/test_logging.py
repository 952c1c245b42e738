"""What the server process writes to its log: requests without their query strings."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.utils.app import Database
from tests.utils.server import run_server


def test_the_access_log_has_no_query_strings(database: Database, tmp_path: Path) -> None:
    with run_server(database.url, tmp_path / "data") as server:
        response = httpx.get(f"{server.base_url}/api/candidates/", params={"q": "Сидорова olga.sidorova@example.com"})
        assert response.status_code == 401
        httpx.get(f"{server.base_url}/health", params={"probe": "marker-in-query"})
        server.process.terminate()
        server.process.wait(timeout=15)
        log = server.log()
    assert '"GET /api/candidates/ HTTP/1.1" 401' in log
    assert '"GET /health HTTP/1.1" 200' in log
    for leaked in ("olga.sidorova", "%D0%A1", "Сидорова", "marker-in-query", "?q="):
        assert leaked not in log
