"""Usage, the GigaChat daily quota, /metrics and logs, seen through a run of real chats against the fake."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re

import pytest
import sqlalchemy as sa

from app.ai.telemetry import today
from app.core.logging import JsonFormatter, RedactingFilter, install_filters
from tests.fake_upstream import FakeUpstream, Fault
from tests.utils.app import Database, RunningApp, StartApp, create_candidate

pytestmark = pytest.mark.usefixtures("database")


async def chat(api: RunningApp, candidate_id: int, text: str = "Вопрос") -> dict[str, object]:
    response = await api.client.post("/api/chat/", json={"candidate_id": candidate_id, "role": "user", "content": text})
    assert response.status_code == 201, response.text
    return response.json()["assistant_message"]  # type: ignore[no-any-return]


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if match and match.group(1) == name and ",".join(sorted((match.group(2) or "").split(","))) == selector:
            return float(match.group(3))
    return 0.0


async def test_usage_and_metrics_reflect_chats_with_fallbacks(api: RunningApp, fake: FakeUpstream) -> None:
    candidate = await create_candidate(api.client)
    await chat(api, candidate["id"])
    await chat(api, candidate["id"])
    fake.gigachat.push(Fault.status(402))
    assert (await chat(api, candidate["id"]))["provider"] == "openrouter"
    fake.gigachat.push(Fault.cut_after(1))
    assert (await chat(api, candidate["id"]))["provider"] == "openrouter"

    usage = (await api.client.get("/api/usage/")).json()
    by_provider = {row["provider"]: row for row in usage}
    assert by_provider["gigachat"]["day"] == today().isoformat()
    assert by_provider["gigachat"]["requests"] == 4 and by_provider["gigachat"]["failures"] == 2
    assert by_provider["openrouter"]["requests"] == 2 and by_provider["openrouter"]["failures"] == 0
    assert by_provider["gigachat"]["completion_tokens"] > 0 and by_provider["openrouter"]["prompt_tokens"] > 0

    text = (await api.anon.get("/metrics")).text
    assert metric(text, "nexus_llm_requests_total", provider="gigachat", outcome="ok") == 2
    assert metric(text, "nexus_llm_requests_total", provider="gigachat", outcome="payment") == 1
    assert metric(text, "nexus_llm_requests_total", provider="gigachat", outcome="truncated") == 1
    assert metric(text, "nexus_llm_requests_total", provider="openrouter", outcome="ok") == 2
    assert metric(text, "nexus_llm_fallbacks_total", provider="gigachat", reason="payment") == 1
    assert metric(text, "nexus_llm_fallbacks_total", provider="gigachat", reason="truncated") == 1
    assert metric(text, "nexus_llm_latency_seconds_count", provider="gigachat") == 4
    assert metric(text, "nexus_llm_time_to_first_token_seconds_count", provider="openrouter") == 2
    assert metric(text, "nexus_llm_queue_wait_seconds_count", provider="gigachat") == 4
    assert metric(text, "nexus_llm_tokens_total", provider="openrouter", kind="completion") > 0
    assert metric(text, "nexus_llm_breaker_state", provider="gigachat") == 0


async def test_usage_needs_a_login_and_metrics_do_not(api: RunningApp) -> None:
    assert (await api.anon.get("/api/usage/")).status_code == 401
    response = await api.anon.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")


async def test_quota_warns_at_80_percent_and_skips_gigachat_at_100(
    start_app: StartApp, fake: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    api = await start_app(GIGACHAT_DAILY_LIMIT=5)
    candidate = await create_candidate(api.client)
    for _ in range(4):
        assert (await chat(api, candidate["id"]))["provider"] == "gigachat"
    ready = (await api.client.get("/ready")).json()
    assert any("80 %" in w for w in ready["warnings"])

    assert (await chat(api, candidate["id"]))["provider"] == "gigachat"  # the 5th and last of the day
    assert "GigaChat daily quota at 4 of 5 requests (80% reached)" in caplog.text
    calls = fake.gigachat.request_count
    skipped = await chat(api, candidate["id"])

    assert skipped["provider"] == "openrouter"
    assert skipped["attempts"][0]["error"] == "quota"  # type: ignore[index]
    assert fake.gigachat.request_count == calls
    assert any("исчерпан" in w for w in (await api.client.get("/ready")).json()["warnings"])


async def test_instances_share_the_daily_count(start_app: StartApp, database: Database) -> None:
    first, second = await start_app(), await start_app()
    candidate = await create_candidate(first.client)
    await chat(first, candidate["id"])
    await chat(second, candidate["id"])

    rows = await database.scalar("SELECT requests FROM provider_usage WHERE provider = 'gigachat'")
    assert rows == 2
    assert [r["requests"] for r in (await second.client.get("/api/usage/")).json()] == [2]


async def test_each_ai_call_is_one_log_line_with_the_request_id(
    api: RunningApp, caplog: pytest.LogCaptureFixture
) -> None:
    candidate = await create_candidate(api.client)
    caplog.set_level(logging.INFO)
    install_filters([caplog.handler], [])

    response = await api.client.post(
        "/api/chat/",
        json={"candidate_id": candidate["id"], "role": "user", "content": "Вопрос"},
        headers={"X-Request-ID": "req-42"},
    )

    assert response.headers["x-request-id"] == "req-42"
    lines = [r for r in caplog.records if r.getMessage().startswith("ai_call ")]
    assert len(lines) == 1
    message = lines[0].getMessage()
    assert "provider=gigachat model=GigaChat-2:2.0.28.2 outcome=ok" in message
    assert re.search(r"latency_ms=\d+ ttft_ms=\d+ queue_wait_ms=\d+ prompt_tokens=\d+ completion_tokens=\d+", message)
    assert lines[0].request_id == "req-42"  # type: ignore[attr-defined]


def test_json_log_lines_are_machine_readable() -> None:
    record = logging.LogRecord("app.ai", logging.INFO, __file__, 1, "ai_call provider=%s", ("gigachat",), None)
    record.request_id = "abc"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "ai_call provider=gigachat" and entry["request_id"] == "abc"
    assert entry["level"] == "INFO" and entry["logger"] == "app.ai"


def test_redaction_masks_keys_tokens_and_authorization_headers() -> None:
    redactor = RedactingFilter(["MySecretKey123456"])
    samples = {
        "key MySecretKey123456 leaked": "MySecretKey123456",
        "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig": "eyJhbGciOiJSUzI1NiJ9",
        "headers {'authorization': 'Basic MDE5YjlkYmQ6c2VjcmV0LXZhbHVl'}": "MDE5YjlkYmQ6c2VjcmV0LXZhbHVl",
        "openrouter sk-or-v1-0123456789abcdef": "sk-or-v1-0123456789abcdef",
    }
    for text, secret in samples.items():
        assert secret not in redactor.redact(text)


async def test_fault_suite_leaves_no_secret_in_any_log_line(api: RunningApp, fake: FakeUpstream) -> None:
    root = logging.getLogger()
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    secrets = [fake.credentials, fake.client_secret, fake.openrouter_api_key]
    install_filters([handler], secrets)
    try:
        candidate = await create_candidate(api.client)
        for fault in (
            Fault.status(401, "Token has expired"),
            Fault.status(429),
            Fault.html(502),
            Fault.blacklist(),
            Fault.cut_after(1),
            Fault.malformed_after(1),
            Fault.hang_before_headers(30),
        ):
            fake.gigachat.push(fault)
            await chat(api, candidate["id"])
        fake.revoke_tokens()
        await chat(api, candidate["id"])
        fake.gigachat.set_default(Fault.down())
        fake.openrouter.set_default(Fault.status(401, "No auth credentials found"))
        await api.client.post("/api/chat/", json={"candidate_id": candidate["id"], "role": "user", "content": "?"})
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)

    log = buffer.getvalue()
    assert "ai_call" in log and "fallback to OpenRouter" in log
    issued = await _issued_tokens(fake)
    for secret in [*secrets, *issued]:
        assert secret not in log


async def _issued_tokens(fake: FakeUpstream) -> list[str]:
    tokens = [r["headers"].get("authorization", "") for r in fake.gigachat.requests]
    return sorted({t.removeprefix("Bearer ") for t in tokens if t.startswith("Bearer ")})


async def test_usage_counts_add_up_atomically(database: Database, api: RunningApp) -> None:

    from app.ai.chain import CallRecord
    from app.ai.telemetry import record_usage

    calls = [CallRecord("gigachat", prompt_tokens=3, completion_tokens=2) for _ in range(20)]
    await asyncio.gather(*(record_usage(api.state.session_factory, c) for c in calls))

    async with database.engine.connect() as conn:
        row = (await conn.execute(sa.text("SELECT requests, prompt_tokens FROM provider_usage"))).one()
    assert tuple(row) == (20, 60)


async def test_quota_is_never_overshot_by_simultaneous_instances(start_app: StartApp, fake: FakeUpstream) -> None:
    fake.scope = "GIGACHAT_API_B2B"  # ten at a time, so both instances really call GigaChat together
    settings = {"GIGACHAT_SCOPE": "GIGACHAT_API_B2B", "GIGACHAT_DAILY_LIMIT": 3}
    first, second = await start_app(**settings), await start_app(**settings)
    candidate = await create_candidate(first.client)
    fake.chunk_delay = 0.02

    replies = await asyncio.gather(*(chat(app, candidate["id"]) for app in (first, second) * 4))

    assert sorted(r["provider"] for r in replies).count("gigachat") == 3
    assert fake.gigachat.request_count == 3
    usage = {row["provider"]: row["requests"] for row in (await first.client.get("/api/usage/")).json()}
    assert usage == {"gigachat": 3, "openrouter": 5}


async def test_a_reserved_request_that_is_never_sent_gives_its_place_back(
    start_app: StartApp, fake: FakeUpstream
) -> None:
    api = await start_app(GIGACHAT_DAILY_LIMIT=2, LLM_QUEUE_SIZE=0)
    candidate = await create_candidate(api.client)
    fake.gigachat.push(Fault.slow(0.05, text="Медленный ответ, пока второй вопрос ждёт"))

    replies = await asyncio.gather(chat(api, candidate["id"], "Первый"), chat(api, candidate["id"], "Второй"))

    assert sorted(r["provider"] for r in replies) == ["gigachat", "openrouter"]  # the second found the queue full
    usage = {row["provider"]: row["requests"] for row in (await api.client.get("/api/usage/")).json()}
    assert usage["gigachat"] == 1
    assert (await chat(api, candidate["id"]))["provider"] == "gigachat"  # the freed place is usable
