"""GigaChatService on the official SDK against the fake: OAuth, token reuse and refresh, the guide's snippets."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import time
from typing import Any

import pytest

from app.ai.errors import ErrorKind
from app.ai.factory import build_chain
from app.ai.providers.gigachat import GigaChatError, GigaChatService, build_ssl_context
from app.ai.types import LLMRequest
from app.core.config import Settings
from tests.fake_upstream import FakeUpstream, Fault
from tests.utils.app import REPO_ROOT, Database, fake_settings
from tests.utils.providers import gigachat_failure
from tests.utils.server import free_port


def gigachat_only(fake: FakeUpstream, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "GIGACHAT_API_KEY": fake.credentials,
        "GIGACHAT_SCOPE": fake.scope,
        "GIGACHAT_BASE_URL": fake.gigachat_base_url,
        "GIGACHAT_AUTH_URL": fake.gigachat_auth_url,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


MESSAGES = [{"role": "system", "content": "Вы - HR ассистент"}, {"role": "user", "content": "Привет!"}]


def test_access_token_is_fetched_once_and_reused(fake: FakeUpstream) -> None:
    service = GigaChatService(gigachat_only(fake))

    first = service.get_access_token()
    again = service.get_access_token()
    answer = service.chat(MESSAGES)

    assert first is not None and first == again
    assert answer.startswith("GigaChat: ")
    assert fake.oauth_calls == 1
    request = fake.gigachat.requests[0]
    assert request["headers"]["authorization"] == f"Bearer {first}"


def test_oauth_request_carries_rquid_scope_and_basic_key(fake: FakeUpstream) -> None:
    GigaChatService(gigachat_only(fake)).get_access_token()
    oauth = fake.oauth.requests[0]
    assert oauth["headers"]["authorization"] == f"Basic {fake.credentials}"
    assert len(oauth["headers"]["rquid"]) == 36
    assert oauth["json"] == {"scope": "GIGACHAT_API_PERS"}


def test_wrong_secret_returns_none_and_logs_without_the_key(
    fake: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    import base64

    wrong = base64.b64encode(f"{fake.client_id}:not-the-secret".encode()).decode()
    service = GigaChatService(gigachat_only(fake, GIGACHAT_API_KEY=wrong))

    assert service.get_access_token() is None
    assert "credentials doesn't match" in caplog.text
    assert wrong not in caplog.text


async def test_fifty_concurrent_first_requests_make_one_oauth_call(fake: FakeUpstream, database: Database) -> None:
    fake.scope = "GIGACHAT_API_B2B"
    # Generous time limits: this is about one OAuth call for many first requests, not about speed, and a slow
    # moment on a busy machine must not send a request to the fallback.
    settings = fake_settings(
        fake,
        database,
        GIGACHAT_SCOPE="GIGACHAT_API_B2B",
        LLM_QUEUE_SIZE=100,
        LLM_FIRST_TOKEN_TIMEOUT=15.0,
        LLM_STREAM_IDLE_TIMEOUT=15.0,  # a loaded CI machine once let one of the fifty streams idle past 0.5 s
        LLM_QUEUE_TIMEOUT=60.0,
        LLM_HEDGE_AFTER=0,
    )
    chain = build_chain(settings)
    try:
        results = await asyncio.gather(
            *(chain.complete(LLMRequest([{"role": "user", "content": f"q{i}"}], 0.7, 50)) for i in range(50))
        )
    finally:
        await chain.aclose()

    assert {r.provider for r in results} == {"gigachat"}
    assert fake.oauth_calls == 1
    assert fake.gigachat.max_in_flight <= 10


async def test_many_streams_at_once_are_in_flight_together_on_one_token(fake: FakeUpstream) -> None:
    # A company key allowing 40 calls at once: all forty go out together (the pool has room for every call the
    # limit allows), after one OAuth call, with the same token.
    fake.scope = "GIGACHAT_API_B2B"
    fake.gigachat_concurrency_limit = 1000
    fake.gigachat.set_default(Fault.hang_before_headers(0.3))  # so that the forty are in flight together
    service = GigaChatService(gigachat_only(fake, GIGACHAT_SCOPE="GIGACHAT_API_B2B", GIGACHAT_MAX_CONCURRENCY=40))
    try:
        answers = await asyncio.gather(*(service.complete(MESSAGES) for _ in range(40)))
    finally:
        await service.aclose()

    assert all(answer.startswith("GigaChat: ") for answer in answers)
    assert fake.gigachat.max_in_flight == 40
    assert fake.oauth_calls == 1
    tokens = {request["headers"]["authorization"] for request in fake.gigachat.requests}
    assert len(tokens) == 1


async def test_expired_token_is_refreshed_without_the_user_noticing(fake: FakeUpstream) -> None:
    service = GigaChatService(gigachat_only(fake))
    try:
        assert (await service.complete(MESSAGES)).startswith("GigaChat: ")
        fake.revoke_tokens()  # the server now answers 401 "Token has expired" to the cached token

        answer = await service.complete(MESSAGES)

        assert answer.startswith("GigaChat: ")
        assert fake.oauth_calls == 2
    finally:
        await service.aclose()


async def test_an_api_that_refuses_connections_is_reported_unreachable_not_slow(fake: FakeUpstream) -> None:
    # OAuth answers, the API's port is closed: "недоступен" (the chain falls back at once), not a timeout.
    settings = gigachat_only(fake, GIGACHAT_BASE_URL=f"http://127.0.0.1:{free_port()}/api/v1")
    failure = await gigachat_failure(settings, MESSAGES)
    assert failure.kind is ErrorKind.CONNECT and "недоступен" in failure.describe()


async def test_a_reply_cut_mid_stream_is_reported_as_cut(fake: FakeUpstream) -> None:
    fake.gigachat.push(Fault.cut_after(2))
    assert (await gigachat_failure(gigachat_only(fake), MESSAGES)).kind is ErrorKind.TRUNCATED


def test_token_is_renewed_before_it_expires(fake: FakeUpstream) -> None:
    # Tokens that expire 61 s after issue fall inside the SDK's 60 s safety margin one second later.
    fake.token_ttl_ms = 61_000
    service = GigaChatService(gigachat_only(fake))
    first = service.get_access_token()
    time.sleep(1.1)

    second = service.get_access_token()

    assert second is not None and second != first
    assert fake.oauth_calls == 2


def test_blocking_response_raises_readable_error_on_censor(fake: FakeUpstream) -> None:
    fake.gigachat.push(Fault.blacklist())
    with pytest.raises(GigaChatError, match="цензором"):
        GigaChatService(gigachat_only(fake)).chat(MESSAGES)


def test_not_configured_service_says_which_setting_to_fill(fake: FakeUpstream) -> None:
    service = GigaChatService(Settings(_env_file=None))  # type: ignore[call-arg]
    assert service.get_access_token() is None
    with pytest.raises(GigaChatError, match="GIGACHAT_API_KEY"):
        service.chat(MESSAGES)


# --- TLS --------------------------------------------------------------------------------------------


def test_tls_verification_is_on_by_default(fake: FakeUpstream) -> None:
    context = build_ssl_context(gigachat_only(fake))
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_switching_tls_off_is_explicit(fake: FakeUpstream) -> None:
    assert build_ssl_context(gigachat_only(fake, GIGACHAT_VERIFY_SSL_CERTS=False)) is None


# --- the guide's snippets, run as a reader would ----------------------------------------------------


def guide_env(fake: FakeUpstream) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIGACHAT_", "OPENROUTER_"))}
    env.update(
        GIGACHAT_API_KEY=fake.credentials,
        GIGACHAT_SCOPE=fake.scope,
        GIGACHAT_BASE_URL=fake.gigachat_base_url,
        GIGACHAT_AUTH_URL=fake.gigachat_auth_url,
        USE_GIGACHAT="true",
    )
    return env


def test_guide_token_snippet_works_as_written(fake: FakeUpstream) -> None:
    snippet = (
        "from app.services.gigachat import gigachat_service; token = gigachat_service.get_access_token(); "
        "print('Token:', token[:20] if token else 'Failed')"
    )
    result = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=REPO_ROOT / "backend",
        env=guide_env(fake),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip()
    assert printed.startswith("Token: ") and printed != "Token: Failed"
    assert len(printed) == len("Token: ") + 20


def test_guide_chat_snippet_works_as_written(fake: FakeUpstream) -> None:
    snippet = """
from app.services.gigachat import get_gigachat_response

messages = [
    {"role": "system", "content": "Вы - HR ассистент"},
    {"role": "user", "content": "Привет! Расскажите о себе"}
]

response = get_gigachat_response(messages, temperature=0.7)
print(response)
"""
    result = subprocess.run(
        [sys.executable],
        input=snippet,
        cwd=REPO_ROOT,
        env=guide_env(fake),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "GigaChat: ответ на «Привет! Расскажите о себе»"
    assert fake.gigachat.requests[-1]["json"]["temperature"] == 0.7


def test_guide_token_snippet_prints_failed_when_the_key_is_wrong(fake: FakeUpstream) -> None:
    import base64

    env = guide_env(fake)
    env["GIGACHAT_API_KEY"] = base64.b64encode(f"{fake.client_id}:wrong-secret".encode()).decode()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from app.services.gigachat import gigachat_service; token = gigachat_service.get_access_token(); "
            "print('Token:', token[:20] if token else 'Failed')",
        ],
        cwd=REPO_ROOT / "backend",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "Token: Failed"
    assert "Traceback" not in result.stderr
    assert env["GIGACHAT_API_KEY"] not in result.stderr + result.stdout
