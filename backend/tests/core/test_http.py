"""Request bodies are limited while they stream in: before parsing, before the login check, per kind of route."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.resume_files import make_pdf
from tests.utils.app import Database, RunningApp, StartApp, create_candidate
from tests.utils.server import chunked, run_server, send_raw

MB = 1024 * 1024


async def _json_stream(size: int) -> AsyncIterator[bytes]:
    """A JSON document of about `size` bytes, sent in pieces without a declared length."""
    yield b'{"full_name": "'
    piece = b"a" * 16384
    for _ in range(size // len(piece)):
        yield piece
    yield b'"}'


def _status_and_body(raw: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


async def test_too_large_json_is_refused_in_russian_before_the_login_check(start_app: StartApp) -> None:
    api = await start_app(REQUEST_MAX_JSON_BYTES=10_000)
    declared = await api.anon.post(
        "/api/candidates/", content=b"x" * 20_000, headers={"Content-Type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.json()["detail"] == "Запрос слишком большой: допустимо не больше 9.77 КБ"

    streamed = await api.anon.post(
        "/api/candidates/", content=_json_stream(200_000), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413, streamed.text
    assert "Запрос слишком большой" in streamed.json()["detail"]
    assert streamed.headers["x-request-id"]

    # A logged-in client gets the same answer: the limit is not about who asks.
    as_admin = await api.client.post("/api/candidates/", content=_json_stream(200_000))
    assert as_admin.status_code == 413
    # Within the limit nothing changes.
    assert (await api.anon.post("/api/candidates/", json={"full_name": "Анна"})).status_code == 401


async def test_uploads_have_their_own_larger_limit(start_app: StartApp) -> None:
    api = await start_app(REQUEST_MAX_JSON_BYTES=2000, RESUME_MAX_BYTES=100_000)
    candidate = await create_candidate(api.client, resume_text=None)
    pdf = make_pdf(["Anna Smirnova", "Python " * 200])
    assert 2000 < len(pdf) < 100_000
    ok = await api.client.post(f"/api/candidates/{candidate['id']}/resume", files={"file": ("cv.pdf", pdf)})
    assert ok.status_code == 200, ok.text

    too_big = await api.client.post(
        f"/api/candidates/{candidate['id']}/resume", files={"file": ("cv.pdf", pdf + b"%" * 200_000)}
    )
    assert too_big.status_code == 413
    assert "Запрос слишком большой" in too_big.json()["detail"]
    # The same bytes sent as JSON get the JSON limit.
    assert (await api.client.patch(f"/api/candidates/{candidate['id']}", content=b"x" * 3000)).status_code == 413


async def test_the_limit_covers_login_forms(api: RunningApp) -> None:
    response = await api.anon.post("/api/auth/login", data={"username": "a@example.com", "password": "x" * (3 * MB)})
    assert response.status_code == 413


def test_a_100_mb_unauthenticated_body_costs_the_server_almost_no_memory(database: Database, tmp_path: Path) -> None:
    with run_server(database.url, tmp_path / "data") as server:
        httpx.get(f"{server.base_url}/api/auth/me", timeout=10)  # warm up: imports and the first request
        server.reset_peak()
        before = server.rss_bytes()
        body = (b"a" * MB for _ in range(100))
        head = (
            b"POST /api/candidates/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        status, answer = _status_and_body(send_raw(server.base_url, head, chunked(body)))
        assert status == 413
        assert "Запрос слишком большой" in str(answer["detail"])

        declared = (
            f"POST /api/candidates/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {100 * MB}\r\n\r\n"
        ).encode()
        status, answer = _status_and_body(send_raw(server.base_url, declared, (b"a" * MB for _ in range(100))))
        assert status == 413
        growth = server.peak_rss_bytes() - before
        print(f"server memory: {before / MB:.0f} MB before, peak {server.peak_rss_bytes() / MB:.0f} MB")
        assert growth < 50 * MB, f"server memory grew by {growth / MB:.0f} MB"
        assert server.process.poll() is None
        assert os.path.exists(f"/proc/{server.process.pid}")
