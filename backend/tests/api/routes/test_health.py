"""Liveness, readiness and the OpenAPI docs."""

from __future__ import annotations

import pytest

from tests.fake_upstream import FakeUpstream, Fault
from tests.utils.app import RunningApp, StartApp

pytestmark = pytest.mark.usefixtures("database")


async def test_health_and_docs(api: RunningApp) -> None:
    assert (await api.client.get("/health")).json() == {"status": "ok"}
    docs = await api.client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = (await api.client.get("/openapi.json")).json()
    assert "/api/chat/" in spec["paths"] and "/api/chat/{candidate_id}" in spec["paths"]


async def test_ready_reports_database_and_providers(api: RunningApp) -> None:
    body = (await api.client.get("/ready")).json()
    assert body["status"] == "ok" and body["database"] is True
    assert [(p["name"], p["configured"], p["foreign"], p["breaker"]) for p in body["providers"]] == [
        ("gigachat", True, False, "closed"),
        ("openrouter", True, True, "closed"),
    ]


async def test_ready_says_when_ai_is_not_configured(start_app: StartApp) -> None:
    api = await start_app(GIGACHAT_API_KEY=None, OPENROUTER_API_KEY=None)
    body = (await api.client.get("/ready")).json()
    assert body["status"] == "degraded"
    assert any("GIGACHAT_API_KEY" in w for w in body["warnings"])


async def test_ready_shows_an_open_breaker(start_app: StartApp, fake: FakeUpstream) -> None:
    api = await start_app(LLM_BREAKER_FAILURES=1, LLM_BREAKER_COOLDOWN=600)
    fake.gigachat.set_default(Fault.down())
    candidate = (await api.client.post("/api/candidates/", json={"full_name": "Тест"})).json()
    await api.client.post("/api/chat/", json={"candidate_id": candidate["id"], "role": "user", "content": "?"})

    body = (await api.client.get("/ready")).json()
    assert {p["name"]: p["breaker"] for p in body["providers"]} == {"gigachat": "open", "openrouter": "closed"}


async def test_tls_off_is_warned_at_start_up(start_app: StartApp, caplog: pytest.LogCaptureFixture) -> None:
    api = await start_app(GIGACHAT_VERIFY_SSL_CERTS=False)
    assert "TLS certificate verification for GigaChat is OFF" in caplog.text
    assert any("TLS" in w for w in (await api.client.get("/ready")).json()["warnings"])
