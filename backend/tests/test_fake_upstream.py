"""The fake upstream, driven only through the official gigachat and openai SDKs."""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from typing import Any

import gigachat
import httpx
import httpx2
import openai
import pydantic
import pytest
from gigachat import exceptions as gc_errors
from gigachat.models import ChatCompletionChunk

from tests.fake_upstream import CENSOR_PHRASE, PERS_SCOPE, FakeUpstream, Fault

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
CORP_SCOPE = "GIGACHAT_API_CORP"
QUESTION = "Расскажи о кандидате на позицию Python-разработчика"
GIGA_ANSWER = f"GigaChat: ответ на «{QUESTION[:40]}»"
OPENROUTER_ANSWER = f"OpenRouter: ответ на «{QUESTION[:40]}»"
SHORT_TIMEOUT = 0.3


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@pytest.fixture
def fake(upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUpstream]:
    # The SDK reads GIGACHAT_* on every construction; a developer's real key must not leak in.
    for name in list(os.environ):
        if name.startswith("GIGACHAT_"):
            monkeypatch.delenv(name)
    upstream.reset()
    yield upstream
    upstream.reset()


def make_giga(fake: FakeUpstream, *, timeout: float = 5.0, **overrides: Any) -> gigachat.GigaChat:
    settings: dict[str, Any] = {
        "base_url": fake.gigachat_base_url,
        "auth_url": fake.gigachat_auth_url,
        "credentials": fake.credentials,
        "scope": fake.scope,
        "model": "GigaChat-2",
        "verify_ssl_certs": False,
        "timeout": timeout,
        **overrides,
    }
    return gigachat.GigaChat(**settings)


def make_openai(fake: FakeUpstream, *, timeout: float = 5.0, api_key: str | None = None) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=fake.openrouter_base_url,
        api_key=api_key or fake.openrouter_api_key,
        max_retries=0,
        timeout=timeout,
        default_headers={"HTTP-Referer": "https://nexus.example", "X-OpenRouter-Title": "Nexus AI"},
    )


def user_chat(text: str = QUESTION) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


async def collect(stream: AsyncIterator[ChatCompletionChunk]) -> list[ChatCompletionChunk]:
    return [chunk async for chunk in stream]


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


OPENROUTER_MESSAGES: list[Any] = [{"role": "user", "content": QUESTION}]


# --------------------------------------------------------------------------- GigaChat: auth


def test_sync_chat_round_trip(fake: FakeUpstream) -> None:
    with make_giga(fake) as client:
        response = client.chat(user_chat())

    assert response.choices[0].message.content == GIGA_ANSWER
    assert response.choices[0].finish_reason == "stop"
    assert response.model == "GigaChat-2:2.0.28.2"
    assert response.object_ == "chat.completion"
    usage = response.usage
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.precached_prompt_tokens == 0
    assert abs(response.created - time.time()) < 60

    assert fake.oauth_calls == 1
    assert UUID_RE.match(fake.oauth_rquids[0])
    oauth_request = fake.oauth.requests[0]
    assert oauth_request["json"] == {"scope": PERS_SCOPE}
    assert oauth_request["headers"]["authorization"] == f"Basic {fake.credentials}"
    sent = fake.gigachat.last_request
    assert sent is not None
    assert sent["path"] == "/gigachat/api/v1/chat/completions"
    assert sent["headers"]["authorization"].startswith("Bearer ")
    assert sent["json"]["model"] == "GigaChat-2"
    assert sent["json"]["messages"] == [{"role": "user", "content": QUESTION}]
    assert fake.gigachat.request_count == 1


def test_get_token_has_millisecond_expiry(fake: FakeUpstream) -> None:
    with make_giga(fake) as client:
        token = client.get_token()

    assert token is not None
    assert token.access_token
    now_ms = time.time() * 1000
    assert now_ms + fake.token_ttl_ms - 60_000 < token.expires_at <= now_ms + fake.token_ttl_ms


@pytest.mark.asyncio(loop_scope="function")
async def test_concurrent_first_calls_share_one_token(fake: FakeUpstream) -> None:
    fake.scope = CORP_SCOPE  # PERS would reject the concurrent chats themselves
    async with make_giga(fake, scope=CORP_SCOPE) as client:
        responses = await asyncio.gather(*(client.achat(user_chat(f"вопрос {i}")) for i in range(8)))

    assert [r.choices[0].message.content for r in responses] == [f"GigaChat: ответ на «вопрос {i}»" for i in range(8)]
    assert fake.oauth_calls == 1
    assert fake.gigachat.request_count == 8
    assert 1 <= fake.max_concurrent_gigachat <= 8


def test_revoked_token_is_refreshed_once(fake: FakeUpstream) -> None:
    with make_giga(fake) as client:
        client.chat(user_chat())
        fake.revoke_tokens()
        response = client.chat(user_chat())

    assert response.choices[0].message.content == GIGA_ANSWER
    assert fake.oauth_calls == 2
    assert fake.gigachat.request_count == 3  # ok, 401 "Token has expired", ok after refresh


def test_revoked_token_gets_token_expired_body(fake: FakeUpstream) -> None:
    token = fake.issue_token()
    fake.revoke_tokens()
    with (
        make_giga(fake, access_token=token, credentials=None) as client,
        pytest.raises(gc_errors.AuthenticationError) as caught,
    ):
        client.chat(user_chat())

    assert caught.value.content is not None
    assert json.loads(caught.value.content) == {"status": 401, "message": "Token has expired"}


def test_wrong_credentials(fake: FakeUpstream) -> None:
    old_credentials = fake.credentials
    fake.client_secret = "rotated-secret"
    with make_giga(fake, credentials=old_credentials) as client, pytest.raises(gc_errors.AuthenticationError) as caught:
        client.chat(user_chat())

    assert caught.value.content is not None
    assert json.loads(caught.value.content) == {"code": 6, "message": "credentials doesn't match db data"}
    assert fake.gigachat.request_count == 0


def test_wrong_scope(fake: FakeUpstream) -> None:
    with make_giga(fake, scope=CORP_SCOPE) as client, pytest.raises(gc_errors.BadRequestError) as caught:
        client.chat(user_chat())

    assert caught.value.content is not None
    assert json.loads(caught.value.content)["code"] == 7


def test_oauth_faults_are_queued(fake: FakeUpstream) -> None:
    fake.oauth.push(Fault.status(500))
    fake.oauth.push(Fault.status(429, headers={"Retry-After": "3"}))
    with make_giga(fake) as client:
        with pytest.raises(gc_errors.ServerError):
            client.chat(user_chat())
        with pytest.raises(gc_errors.RateLimitError) as caught:
            client.chat(user_chat())
        assert caught.value.retry_after == 3.0
        assert client.chat(user_chat()).choices[0].message.content == GIGA_ANSWER

    assert fake.oauth_calls == 3
    assert fake.gigachat.request_count == 1


def test_oauth_rejects_stream_only_faults(fake: FakeUpstream) -> None:
    with pytest.raises(ValueError):
        fake.oauth.push(Fault.blacklist())
    with pytest.raises(ValueError):
        fake.oauth.push(Fault.no_done_after(1))
    fake.oauth.push(Fault.ok())
    fake.oauth.push(Fault.cut_after(0))
    assert fake.oauth.pending == 2


# --------------------------------------------------------------------------- GigaChat: chat


@pytest.mark.asyncio(loop_scope="function")
async def test_astream_yields_pieces_then_finish_chunk(fake: FakeUpstream) -> None:
    async with make_giga(fake) as client:
        chunks = await collect(client.astream(user_chat()))

    assert len(chunks) > 2
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == GIGA_ANSWER
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.choices[0].delta.content == ""
    assert last.usage is not None
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert last.object_ == "chat.completion"
    assert fake.gigachat.last_request is not None
    assert fake.gigachat.last_request["json"]["stream"] is True


def test_models_list(fake: FakeUpstream) -> None:
    with make_giga(fake) as client:
        models = client.get_models()

    ids = {model.id_ for model in models.data}
    assert {"GigaChat-2", "GigaChat-2-Pro", "GigaChat-2-Max"} <= ids
    assert fake.gigachat.request_count == 0  # only chat requests are counted


def test_system_message_must_be_first(fake: FakeUpstream) -> None:
    payload = {"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]}
    with make_giga(fake) as client, pytest.raises(gc_errors.UnprocessableEntityError) as caught:
        client.chat(payload)

    assert caught.value.content is not None
    assert json.loads(caught.value.content) == {
        "status": 422,
        "message": "Invalid params: system message must be the first message",
    }


def test_blacklist_is_a_normal_response(fake: FakeUpstream) -> None:
    fake.gigachat.push(Fault.blacklist())
    with make_giga(fake) as client:
        response = client.chat(user_chat())

    assert response.choices[0].finish_reason == "blacklist"
    assert response.choices[0].message.content == CENSOR_PHRASE


def test_html_502_and_faults_are_consumed_in_order(fake: FakeUpstream) -> None:
    fake.gigachat.push(Fault.html(502))
    fake.gigachat.push(Fault.ok(text="после сбоя"))
    with make_giga(fake) as client:
        with pytest.raises(gc_errors.ServerError) as caught:
            client.chat(user_chat())
        assert caught.value.content == b"<html><body><h1>502 Bad Gateway</h1>SynGX</body></html>"
        assert client.chat(user_chat()).choices[0].message.content == "после сбоя"
        assert client.chat(user_chat()).choices[0].message.content == GIGA_ANSWER


def test_default_fault_persists_until_cleared(fake: FakeUpstream) -> None:
    fake.gigachat.set_default(Fault.down())
    with make_giga(fake) as client:
        for _ in range(2):
            with pytest.raises(gc_errors.ServerError):
                client.chat(user_chat())
        fake.gigachat.clear()
        assert client.chat(user_chat()).choices[0].finish_reason == "stop"


@pytest.mark.asyncio(loop_scope="function")
async def test_pers_scope_allows_one_request_at_a_time(fake: FakeUpstream) -> None:
    fake.gigachat.push(Fault.stall_after(1, seconds=30))
    async with make_giga(fake) as client:
        first = client.astream(user_chat())
        opening = await anext(first)
        assert opening.choices[0].delta.content
        assert fake.gigachat_in_flight == 1

        with pytest.raises(gc_errors.RateLimitError) as caught:
            await collect(client.astream(user_chat()))
        assert caught.value.content is not None
        assert json.loads(caught.value.content) == {"status": 429, "message": "Too many requests"}

        assert isinstance(first, AsyncGenerator)
        await first.aclose()

    assert fake.wait_idle()
    assert fake.gigachat_429_concurrency == 1
    assert fake.max_concurrent_gigachat == 1


@pytest.mark.asyncio(loop_scope="function")
async def test_cut_after_raises_transport_error(fake: FakeUpstream) -> None:
    fake.gigachat.push(Fault.cut_after(2))
    received: list[ChatCompletionChunk] = []
    async with make_giga(fake) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            async for chunk in client.astream(user_chat()):
                received.append(chunk)

    assert len(received) == 2


@pytest.mark.asyncio(loop_scope="function")
async def test_no_done_after_ends_without_finish_reason(fake: FakeUpstream) -> None:
    fake.gigachat.push(Fault.no_done_after(2))
    async with make_giga(fake) as client:
        chunks = await collect(client.astream(user_chat()))

    assert len(chunks) == 2
    assert all(c.choices[0].finish_reason is None for c in chunks)


@pytest.mark.asyncio(loop_scope="function")
async def test_malformed_chunk_fails_validation(fake: FakeUpstream) -> None:
    fake.gigachat.push(Fault.malformed_after(1))
    async with make_giga(fake) as client:
        with pytest.raises(pydantic.ValidationError):
            await collect(client.astream(user_chat()))


def test_hang_before_headers_times_out_and_frees_the_slot(fake: FakeUpstream) -> None:
    fake.gigachat.push(Fault.hang_before_headers(30))
    with make_giga(fake, timeout=SHORT_TIMEOUT) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.chat(user_chat())
        assert fake.wait_idle()
        assert client.chat(user_chat()).choices[0].finish_reason == "stop"


def test_reset_releases_a_hanging_request(fake: FakeUpstream) -> None:
    fake.gigachat.push(Fault.hang_before_headers(30))
    outcome: list[BaseException | str] = []

    def call() -> None:
        try:
            with make_giga(fake, timeout=10) as client:
                outcome.append(client.chat(user_chat()).choices[0].message.content or "")
        except Exception as exc:
            outcome.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    wait_for(lambda: fake.gigachat_in_flight == 1)
    fake.reset()
    worker.join(5)

    assert not worker.is_alive()
    assert isinstance(outcome[0], gc_errors.ServerError)  # uvicorn answers 500 for a released hang


# --------------------------------------------------------------------------- OpenRouter via openai


@pytest.mark.asyncio(loop_scope="function")
async def test_openai_stream_with_usage(fake: FakeUpstream) -> None:
    client = make_openai(fake)
    try:
        stream = await client.chat.completions.create(
            model="deepseek/deepseek-chat-v3-0324",
            messages=OPENROUTER_MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    finally:
        await client.close()

    content = [c for c in chunks if c.choices]
    assert "".join(c.choices[0].delta.content or "" for c in content) == OPENROUTER_ANSWER
    assert content[-1].choices[0].finish_reason == "stop"
    assert all(c.object == "chat.completion.chunk" and c.id.startswith("gen-") for c in chunks)
    assert {c.model for c in chunks} == {"deepseek/deepseek-chat-v3-0324"}
    usage = chunks[-1].usage
    assert usage is not None
    assert chunks[-1].choices == []
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0

    sent = fake.openrouter.last_request
    assert sent is not None
    assert sent["headers"]["http-referer"] == "https://nexus.example"
    assert sent["headers"]["x-openrouter-title"] == "Nexus AI"
    assert sent["json"]["stream_options"] == {"include_usage": True}


@pytest.mark.asyncio(loop_scope="function")
async def test_openai_non_stream(fake: FakeUpstream) -> None:
    client = make_openai(fake)
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model="deepseek/deepseek-chat-v3-0324", messages=OPENROUTER_MESSAGES
        )
        completion = raw.parse()
        models = await client.models.list()
    finally:
        await client.close()

    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == OPENROUTER_ANSWER
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0
    assert raw.headers["x-generation-id"] == completion.id
    assert "deepseek/deepseek-chat-v3-0324" in {model.id for model in models.data}


@pytest.mark.asyncio(loop_scope="function")
async def test_openai_wrong_key(fake: FakeUpstream) -> None:
    client = make_openai(fake, api_key="sk-or-v1-wrong")
    try:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.chat.completions.create(model="x", messages=OPENROUTER_MESSAGES)
    finally:
        await client.close()

    assert caught.value.body == {"code": 401, "message": "No auth credentials found"}


@pytest.mark.asyncio(loop_scope="function")
async def test_openai_rate_limit_keeps_retry_after(fake: FakeUpstream) -> None:
    fake.openrouter.push(Fault.status(429, "Rate limit exceeded", headers={"Retry-After": "7"}))
    client = make_openai(fake)
    try:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(
                model="deepseek/deepseek-chat-v3-0324", messages=OPENROUTER_MESSAGES, stream=True
            )
    finally:
        await client.close()

    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body == {"code": 429, "message": "Rate limit exceeded"}


@pytest.mark.asyncio(loop_scope="function")
async def test_openai_raises_on_stream_error_event(fake: FakeUpstream) -> None:
    # openai's Stream raises APIError (not APIStatusError: the HTTP status was 200) when a data
    # event has a top-level "error"; the chunks before it have already been yielded.
    fake.openrouter.push(Fault.stream_error_event_after(2))
    client = make_openai(fake)
    received: list[Any] = []
    try:
        stream = await client.chat.completions.create(
            model="deepseek/deepseek-chat-v3-0324", messages=OPENROUTER_MESSAGES, stream=True
        )
        with pytest.raises(openai.APIError) as caught:
            async for chunk in stream:
                received.append(chunk)
    finally:
        await client.close()

    assert not isinstance(caught.value, openai.APIStatusError)
    assert caught.value.message == "Provider returned error"
    assert caught.value.body == {"code": 502, "message": "Provider returned error"}
    assert len(received) == 2


@pytest.mark.asyncio(loop_scope="function")
async def test_openai_silent_stream_times_out(fake: FakeUpstream) -> None:
    fake.openrouter.push(Fault.silent_stream(30))
    client = make_openai(fake, timeout=SHORT_TIMEOUT)
    try:
        stream = await client.chat.completions.create(
            model="deepseek/deepseek-chat-v3-0324", messages=OPENROUTER_MESSAGES, stream=True
        )
        with pytest.raises(openai.APITimeoutError):
            async for _ in stream:
                pass
    finally:
        await client.close()

    assert fake.wait_idle()


@pytest.mark.asyncio(loop_scope="function")
async def test_openai_cut_is_a_connection_error(fake: FakeUpstream) -> None:
    fake.openrouter.push(Fault.cut_after(1))
    client = make_openai(fake)
    try:
        stream = await client.chat.completions.create(
            model="deepseek/deepseek-chat-v3-0324", messages=OPENROUTER_MESSAGES, stream=True
        )
        with pytest.raises(openai.APIConnectionError) as caught:
            async for _ in stream:
                pass
    finally:
        await client.close()

    # openai 3.x runs on httpx2, so the cause is httpx2's exception, not httpx's.
    assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)


# --------------------------------------------------------------------------- structured answers

RATING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "score": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "level": {"type": "string", "enum": ["junior", "senior"]},
        "details": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
    },
    "required": ["summary", "score", "tags", "level", "details"],
}


def closed(schema: dict[str, Any]) -> dict[str, Any]:
    out = dict(schema)
    if out.get("type") == "object":
        out["additionalProperties"] = False
        out["properties"] = {k: closed(v) for k, v in out.get("properties", {}).items()}
        out["required"] = list(out["properties"])
    if isinstance(out.get("items"), dict):
        out["items"] = closed(out["items"])
    return out


@pytest.mark.asyncio(loop_scope="function")
async def test_openrouter_rejects_a_strict_schema_strict_mode_would_not_accept(fake: FakeUpstream) -> None:
    bad_schemas = {
        "additionalProperties": RATING_SCHEMA,
        "unsupported keyword 'maxLength'": closed(
            {"type": "object", "properties": {"summary": {"type": "string", "maxLength": 10}}}
        ),
        "must be required": {**closed(RATING_SCHEMA), "required": ["summary"]},
    }
    client = make_openai(fake)
    try:
        for expected, schema in bad_schemas.items():
            response_format: Any = {
                "type": "json_schema",
                "json_schema": {"name": "rate", "strict": True, "schema": schema},
            }
            with pytest.raises(openai.BadRequestError) as caught:
                await client.chat.completions.create(
                    model="deepseek/deepseek-chat-v3-0324",
                    messages=OPENROUTER_MESSAGES,
                    response_format=response_format,
                )
            assert expected in str(caught.value)
    finally:
        await client.close()
    assert fake.openrouter.request_count == 3


@pytest.mark.asyncio(loop_scope="function")
async def test_gigachat_checks_a_replayed_function_call_and_its_result(fake: FakeUpstream) -> None:
    call = {"role": "assistant", "content": "", "function_call": {"name": "rate", "arguments": {"score": 1}}}
    result = {"role": "function", "name": "rate", "content": json.dumps({"status": "rejected"})}
    ask = {"role": "user", "content": "Исправьте"}
    good = {**rating_request(), "messages": [*user_chat()["messages"], call, result, ask]}
    orphan = {**rating_request(), "messages": [*user_chat()["messages"], result, ask]}
    not_json = {**rating_request(), "messages": [*user_chat()["messages"], call, {**result, "content": "нет"}, ask]}
    async with make_giga(fake) as client:
        answered = await client.achat(good)
        with pytest.raises(gc_errors.UnprocessableEntityError) as first:
            await client.achat(orphan)
        with pytest.raises(gc_errors.UnprocessableEntityError) as second:
            await client.achat(not_json)
    assert answered.choices[0].finish_reason == "function_call"
    assert "must follow an assistant message with function_call" in str(first.value.content)
    assert "must be a JSON object" in str(second.value.content)


def rating_request(name: str = "rate") -> dict[str, Any]:
    return {
        **user_chat(),
        "functions": [{"name": "rate", "description": "Оценка", "parameters": RATING_SCHEMA}],
        "function_call": {"name": name},
    }


@pytest.mark.asyncio(loop_scope="function")
async def test_gigachat_forced_function_is_answered_with_object_arguments(fake: FakeUpstream) -> None:
    fake.gigachat.push(Fault.ok(json={"summary": "Готово", "score": 7}))
    async with make_giga(fake) as client:
        programmed = await client.achat(rating_request())
        default = await client.achat(rating_request())

    choice = programmed.choices[0]
    assert choice.finish_reason == "function_call" and choice.message.content == ""
    assert choice.message.function_call is not None
    assert choice.message.function_call.name == "rate"
    assert choice.message.function_call.arguments == {"summary": "Готово", "score": 7}
    assert programmed.usage.completion_tokens > 0
    fallback_call = default.choices[0].message.function_call
    assert fallback_call is not None
    assert fallback_call.arguments == {
        "summary": "пример",
        "score": 0,
        "tags": [],
        "level": "junior",
        "details": {"ok": True},
    }
    sent = fake.gigachat.last_request
    assert sent is not None and sent["json"]["function_call"] == {"name": "rate"}


@pytest.mark.asyncio(loop_scope="function")
async def test_gigachat_text_fault_ignores_the_function_and_bad_names_are_rejected(fake: FakeUpstream) -> None:
    fake.gigachat.push(Fault.ok(text="Не буду вызывать функцию"))
    async with make_giga(fake) as client:
        plain = await client.achat(rating_request())
        with pytest.raises(gc_errors.UnprocessableEntityError) as caught:
            await client.achat(rating_request(name="other"))

    assert plain.choices[0].finish_reason == "stop"
    assert plain.choices[0].message.content == "Не буду вызывать функцию"
    assert plain.choices[0].message.function_call is None
    assert caught.value.content is not None
    assert json.loads(caught.value.content)["message"] == "Invalid params: function_call.name is not among functions"


@pytest.mark.asyncio(loop_scope="function")
async def test_openrouter_json_schema_is_answered_with_json_content(fake: FakeUpstream) -> None:
    fake.openrouter.push(Fault.ok(json={"summary": "Готово", "score": 9}))
    fake.openrouter.push(Fault.ok(text="{not json"))
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "rate", "strict": True, "schema": closed(RATING_SCHEMA)},
    }
    client = make_openai(fake)
    try:
        replies = [
            await client.chat.completions.create(
                model="deepseek/deepseek-chat-v3-0324", messages=OPENROUTER_MESSAGES, response_format=response_format
            )
            for _ in range(3)
        ]
    finally:
        await client.close()

    contents = [r.choices[0].message.content for r in replies]
    assert json.loads(contents[0] or "") == {"summary": "Готово", "score": 9}
    assert contents[1] == "{not json"
    assert json.loads(contents[2] or "")["level"] == "junior"
    assert all(r.choices[0].finish_reason == "stop" for r in replies)
