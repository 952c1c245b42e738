"""A local fake of the GigaChat and OpenRouter HTTP APIs for tests.

The server runs uvicorn in a background thread with its own event loop, so both sync
and async clients (the official ``gigachat`` and ``openai`` SDKs, or the app itself)
can talk to it over real TCP. Faults are injected per target::

    with FakeUpstream() as fake:
        fake.gigachat.push(Fault.status(429, headers={"Retry-After": "1"}))
        fake.openrouter.set_default(Fault.html(502))
        fake.oauth.push(Fault.status(500))

Wire formats follow the GigaChat REST reference (OAuth v2, API v1 chat/models, SSE streaming,
error bodies) and OpenRouter's OpenAI-compatible API (keep-alive comments, usage chunk, errors).

Structured requests get structured answers: a GigaChat request with ``functions`` and a forced
``function_call`` is answered with ``finish_reason="function_call"`` and the arguments as a JSON
object; an OpenRouter request with a ``json_schema`` ``response_format`` gets the document as JSON
content. The document is ``Fault.ok(json=...)`` when one is queued, otherwise a minimal instance
built from the request's schema::

    fake.gigachat.push(Fault.ok(json={"summary": "..."}))
    fake.gigachat.push(Fault.ok(text="Не могу ответить"))  # the model ignored the function
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import itertools
import json
import logging
import math
import re
import secrets
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal, Protocol, TypedDict
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

__all__ = [
    "CENSOR_PHRASE",
    "DEFAULT_GIGACHAT_MODEL",
    "DEFAULT_OPENROUTER_MODEL",
    "PERS_SCOPE",
    "FakeUpstream",
    "Fault",
    "RecordedRequest",
    "UpstreamTarget",
]

PERS_SCOPE = "GIGACHAT_API_PERS"
DEFAULT_GIGACHAT_MODEL = "GigaChat-2:2.0.28.2"
DEFAULT_OPENROUTER_MODEL = "deepseek/deepseek-chat-v3-0324"
DEFAULT_TOKEN_TTL_MS = 30 * 60 * 1000
DEFAULT_CHUNK_DELAY = 0.01
DEFAULT_CHUNK_SIZE = 8
PERS_CONCURRENCY_LIMIT = 1
OTHER_CONCURRENCY_LIMIT = 10
CENSOR_PHRASE = "Не люблю менять тему разговора, но вот сейчас тот самый случай."
PROVIDER_ERROR_MESSAGE = "Provider returned error"
MALFORMED_DATA = b"{not json"
DEFAULT_HANG_SECONDS = 30.0

_POLL_INTERVAL = 0.02
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
_RQUID_RE = re.compile(r"^[0-9a-fA-F-]{36}$")
_GIGACHAT_VERSION_SUFFIX = "2.0.28.2"

GIGACHAT_MODELS: tuple[dict[str, str], ...] = (
    {"id": "GigaChat-2", "object": "model", "owned_by": "salutedevices", "type": "chat"},
    {"id": "GigaChat-2-Pro", "object": "model", "owned_by": "salutedevices", "type": "chat"},
    {"id": "GigaChat-2-Max", "object": "model", "owned_by": "salutedevices", "type": "chat"},
    {"id": "Embeddings", "object": "model", "owned_by": "salutedevices", "type": "embedder"},
)

OPENROUTER_MODELS: tuple[dict[str, Any], ...] = (
    {
        "id": "deepseek/deepseek-chat-v3-0324",
        "canonical_slug": "deepseek/deepseek-chat-v3-0324",
        "name": "DeepSeek: DeepSeek V3 0324",
        "created": 1742824755,
        "context_length": 163840,
        "pricing": {"prompt": "0.00000025", "completion": "0.00000085"},
        "supported_parameters": ["max_tokens", "temperature", "tools", "stream"],
    },
    {
        "id": "deepseek/deepseek-chat-v3-0324:free",
        "canonical_slug": "deepseek/deepseek-chat-v3-0324",
        "name": "DeepSeek: DeepSeek V3 0324 (free)",
        "created": 1742824755,
        "context_length": 163840,
        "pricing": {"prompt": "0", "completion": "0"},
        "supported_parameters": ["max_tokens", "temperature", "stream"],
    },
    {
        "id": "openrouter/free",
        "canonical_slug": "openrouter/free",
        "name": "Free Models Router",
        "created": 1750000000,
        "context_length": 131072,
        "pricing": {"prompt": "0", "completion": "0"},
        "supported_parameters": ["max_tokens", "temperature", "stream"],
    },
)

FaultKind = Literal[
    "reply",
    "status",
    "html",
    "hang_before_headers",
    "silent_stream",
    "stall_after",
    "cut_after",
    "no_done_after",
    "malformed_after",
    "stream_error_event_after",
]

_OAUTH_KINDS: frozenset[FaultKind] = frozenset({"reply", "status", "html", "hang_before_headers", "cut_after"})
_HANG_KINDS: frozenset[FaultKind] = frozenset({"hang_before_headers", "silent_stream", "stall_after"})
_SIDE_ENDPOINT_KINDS: frozenset[FaultKind] = frozenset({"status", "html", "hang_before_headers"})


class RecordedRequest(TypedDict):
    """One request as the fake saw it; header names are lower-case."""

    headers: dict[str, str]
    json: Any
    path: str


@dataclass(frozen=True)
class Fault:
    """What the fake does with one request. Build it with the class-method factories.

    ``after_chunks`` counts content chunks and is clamped to the number of content
    pieces, so an ``*_after`` fault always fires before the finish chunk.
    """

    kind: FaultKind = "reply"
    status_code: int = 200
    message: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    metadata: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)
    text: str | None = None
    finish_reason: str | None = "stop"
    after_chunks: int = 0
    seconds: float = 0.0
    chunk_delay: float | None = None
    structured: Any = field(default=None, hash=False)

    @classmethod
    def ok(cls, text: str | None = None, *, json: Any = None) -> Fault:
        """A normal answer; ``text`` replaces the default reply.

        ``json`` is a structured answer: GigaChat sends it as the arguments of the function call the
        request forced, OpenRouter (or GigaChat without functions) as JSON text content.
        """
        return cls(text=text, structured=json)

    @classmethod
    def status(
        cls,
        code: int,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Fault:
        """An HTTP error with the target's JSON error body (``metadata``: OpenRouter only)."""
        return cls(
            kind="status",
            status_code=code,
            message=message,
            headers=tuple((headers or {}).items()),
            metadata=metadata,
        )

    @classmethod
    def down(cls) -> Fault:
        """The provider is unavailable: 503 with the target's JSON error body."""
        return cls.status(HTTPStatus.SERVICE_UNAVAILABLE)

    @classmethod
    def html(cls, code: int = 502, headers: Mapping[str, str] | None = None) -> Fault:
        """A gateway error page (text/html), as GigaChat's SynGX gateway sends."""
        return cls(kind="html", status_code=code, headers=tuple((headers or {}).items()))

    @classmethod
    def blacklist(cls, text: str = CENSOR_PHRASE) -> Fault:
        """200 with the censor phrase and ``finish_reason="blacklist"``."""
        return cls(text=text, finish_reason="blacklist")

    @classmethod
    def finish_error(cls, text: str | None = None) -> Fault:
        """200 with ``finish_reason="error"``."""
        return cls(text=text, finish_reason="error")

    @classmethod
    def empty(cls) -> Fault:
        """200 with empty content and ``finish_reason="stop"``."""
        return cls(text="")

    @classmethod
    def slow(cls, chunk_delay: float, text: str | None = None) -> Fault:
        """A normal answer with ``chunk_delay`` seconds before each chunk (non-stream: in total)."""
        return cls(text=text, chunk_delay=chunk_delay)

    @classmethod
    def hang_before_headers(cls, seconds: float = DEFAULT_HANG_SECONDS) -> Fault:
        """Accept the request and send nothing for ``seconds``, then answer normally."""
        return cls(kind="hang_before_headers", seconds=seconds)

    @classmethod
    def silent_stream(cls, seconds: float = DEFAULT_HANG_SECONDS) -> Fault:
        """Stream: 200 and SSE headers, then silence for ``seconds``. Non-stream: a hang."""
        return cls(kind="silent_stream", seconds=seconds)

    @classmethod
    def stall_after(cls, k_chunks: int, seconds: float = DEFAULT_HANG_SECONDS) -> Fault:
        """Stream: ``k_chunks`` content chunks, then silence for ``seconds``. Non-stream: a hang."""
        return cls(kind="stall_after", after_chunks=_non_negative(k_chunks), seconds=seconds)

    @classmethod
    def cut_after(cls, k_chunks: int) -> Fault:
        """``k_chunks`` content chunks, then the connection closes mid-body (non-stream: half the JSON)."""
        return cls(kind="cut_after", after_chunks=_non_negative(k_chunks))

    @classmethod
    def no_done_after(cls, k_chunks: int) -> Fault:
        """Stream: ``k_chunks`` chunks, then a clean end with no finish chunk and no ``[DONE]``.

        Non-stream: a 200 whose content is those chunks and whose ``finish_reason`` is null.
        """
        return cls(kind="no_done_after", after_chunks=_non_negative(k_chunks))

    @classmethod
    def malformed_after(cls, k_chunks: int) -> Fault:
        """``k_chunks`` chunks, then ``data: {not json`` and a clean end (non-stream: that body)."""
        return cls(kind="malformed_after", after_chunks=_non_negative(k_chunks))

    @classmethod
    def stream_error_event_after(cls, k_chunks: int) -> Fault:
        """OpenRouter's mid-generation failure: 200, ``k_chunks`` chunks, then an error event.

        The event carries a top-level ``error`` and a choice with ``finish_reason="error"``;
        the stream then ends without ``[DONE]``. Non-stream: a 200 whose choice has
        ``finish_reason="error"`` and an ``error`` object.
        """
        return cls(kind="stream_error_event_after", after_chunks=_non_negative(k_chunks))


def _non_negative(value: int) -> int:
    if value < 0:
        raise ValueError("k_chunks must be >= 0")
    return value


class UpstreamTarget:
    """Fault queue, request log and counters of one upstream (GigaChat, OpenRouter or OAuth)."""

    def __init__(self, name: str, lock: threading.Lock, allowed: frozenset[FaultKind] | None = None) -> None:
        """``allowed`` restricts the fault kinds (and then only a plain ``Fault.ok()`` reply)."""
        self.name = name
        self._lock = lock
        self._allowed = allowed
        self._queue: deque[Fault] = deque()
        self._default: Fault | None = None
        self._requests: deque[RecordedRequest] = deque()
        self._request_count = 0
        self._in_flight: set[int] = set()
        self._max_in_flight = 0

    def push(self, fault: Fault, times: int = 1) -> None:
        """Queue ``fault`` for the next ``times`` requests (after any already queued)."""
        if times < 1:
            raise ValueError("times must be >= 1")
        self._check(fault)
        with self._lock:
            self._queue.extend([fault] * times)

    def set_default(self, fault: Fault | None) -> None:
        """Behaviour for requests that find the queue empty; ``None`` means normal answers."""
        if fault is not None:
            self._check(fault)
        with self._lock:
            self._default = fault

    def clear(self) -> None:
        """Drop queued faults and the default fault."""
        with self._lock:
            self._queue.clear()
            self._default = None

    def keep_last(self, count: int) -> None:
        """Keep only the last ``count`` requests in the log (the counters still count them all): a benchmark's
        many thousand requests would otherwise grow the fake's heap, and its garbage collector's pauses with it,
        so that later phases met a slower fake than earlier ones."""
        with self._lock:
            self._requests = deque(self._requests, maxlen=count)

    @property
    def pending(self) -> int:
        """Queued faults not yet consumed."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request to this target (chat, models, token), oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest | None:
        with self._lock:
            return self._requests[-1] if self._requests else None

    @property
    def request_count(self) -> int:
        """Chat-completion requests (token requests for OAuth), including rejected ones."""
        with self._lock:
            return self._request_count

    @property
    def in_flight(self) -> int:
        """Accepted chat requests whose response has not finished yet."""
        with self._lock:
            return len(self._in_flight)

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    def _check(self, fault: Fault) -> None:
        if self._allowed is None:
            return
        shaped_reply = fault.kind == "reply" and fault != Fault()
        if fault.kind not in self._allowed or shaped_reply:
            raise ValueError(f"{fault!r} does not apply to {self.name}")

    def _record_locked(self, request: RecordedRequest, *, counted: bool) -> None:
        self._requests.append(request)
        if counted:
            self._request_count += 1

    def _next_fault_locked(self) -> Fault:
        if self._queue:
            return self._queue.popleft()
        return self._default or Fault()

    def _persistent_fault_locked(self) -> Fault | None:
        """The default fault when it also makes side endpoints (``/models``) fail."""
        if self._default is not None and self._default.kind in _SIDE_ENDPOINT_KINDS:
            return self._default
        return None

    def _enter_locked(self, request_id: int) -> None:
        self._in_flight.add(request_id)
        self._max_in_flight = max(self._max_in_flight, len(self._in_flight))

    def _leave_locked(self, request_id: int) -> None:
        self._in_flight.discard(request_id)

    def _reset_locked(self) -> None:
        self._queue.clear()
        self._default = None
        self._requests.clear()
        self._request_count = 0
        self._in_flight.clear()
        self._max_in_flight = 0


# --------------------------------------------------------------------------- wire formats


@dataclass(frozen=True)
class _Reply:
    text: str
    finish_reason: str | None
    model: str
    created: int
    prompt_tokens: int
    completion_tokens: int
    response_id: str
    function_call: dict[str, Any] | None = None


class _Dialect(Protocol):
    name: str
    keepalive: bytes | None

    def error_body(self, code: int, message: str | None, metadata: Mapping[str, Any] | None) -> dict[str, Any]: ...

    def completion(self, reply: _Reply, error: dict[str, Any] | None = None) -> dict[str, Any]: ...

    def content_chunk(self, reply: _Reply, piece: str, first: bool) -> dict[str, Any]: ...

    def finish_chunk(self, reply: _Reply) -> dict[str, Any]: ...

    def usage_chunk(self, reply: _Reply) -> dict[str, Any] | None: ...

    def error_event(self, reply: _Reply, error: dict[str, Any]) -> dict[str, Any]: ...

    def response_headers(self, reply: _Reply | None, request_headers: Mapping[str, str]) -> list[tuple[str, str]]: ...


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"


class _GigaChatDialect:
    name = "gigachat"
    keepalive: bytes | None = None

    def error_body(self, code: int, message: str | None, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
        default = "Too many requests" if code == HTTPStatus.TOO_MANY_REQUESTS else _phrase(code)
        return {"status": code, "message": message or default}

    def _usage(self, reply: _Reply) -> dict[str, int]:
        return {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            "precached_prompt_tokens": 0,
        }

    def completion(self, reply: _Reply, error: dict[str, Any] | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text}
        if reply.function_call is not None:
            message["function_call"] = reply.function_call
        return {
            "choices": [
                {
                    "message": message,
                    "index": 0,
                    "finish_reason": reply.finish_reason,
                }
            ],
            "created": reply.created,
            "model": reply.model,
            "object": "chat.completion",
            "usage": self._usage(reply),
        }

    def _chunk(self, reply: _Reply, choice: dict[str, Any]) -> dict[str, Any]:
        return {"choices": [choice], "created": reply.created, "model": reply.model, "object": "chat.completion"}

    def content_chunk(self, reply: _Reply, piece: str, first: bool) -> dict[str, Any]:
        delta = {"content": piece, "role": "assistant"} if first else {"content": piece}
        return self._chunk(reply, {"delta": delta, "index": 0})

    def finish_chunk(self, reply: _Reply) -> dict[str, Any]:
        delta: dict[str, Any] = {"content": ""}
        if reply.function_call is not None:
            delta["function_call"] = reply.function_call
        chunk = self._chunk(reply, {"delta": delta, "index": 0, "finish_reason": reply.finish_reason})
        chunk["usage"] = self._usage(reply)
        return chunk

    def usage_chunk(self, reply: _Reply) -> dict[str, Any] | None:
        return None

    def error_event(self, reply: _Reply, error: dict[str, Any]) -> dict[str, Any]:
        chunk = self._chunk(reply, {"delta": {"content": ""}, "index": 0, "finish_reason": "error"})
        chunk["error"] = error
        return chunk

    def response_headers(self, reply: _Reply | None, request_headers: Mapping[str, str]) -> list[tuple[str, str]]:
        return [
            ("x-request-id", request_headers.get("x-request-id") or str(uuid.uuid4())),
            ("x-session-id", request_headers.get("x-session-id") or str(uuid.uuid4())),
        ]


class _OpenRouterDialect:
    name = "openrouter"
    keepalive: bytes | None = b": OPENROUTER PROCESSING\n\n"
    provider = "DeepSeek"

    def error_body(self, code: int, message: str | None, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
        error: dict[str, Any] = {"code": code, "message": message or _phrase(code)}
        if metadata is not None:
            error["metadata"] = dict(metadata)
        return {"error": error}

    def _usage(self, reply: _Reply) -> dict[str, Any]:
        return {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            "cost": 0,
            "is_byok": False,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }

    def _envelope(self, reply: _Reply, obj: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": reply.response_id,
            "provider": self.provider,
            "model": reply.model,
            "object": obj,
            "created": reply.created,
            "choices": choices,
        }

    def completion(self, reply: _Reply, error: dict[str, Any] | None = None) -> dict[str, Any]:
        choice: dict[str, Any] = {
            "logprobs": None,
            "finish_reason": reply.finish_reason,
            "native_finish_reason": reply.finish_reason,
            "index": 0,
            "message": {"role": "assistant", "content": reply.text, "refusal": None, "reasoning": None},
        }
        if error is not None:
            choice["error"] = error
        body = self._envelope(reply, "chat.completion", [choice])
        body["usage"] = self._usage(reply)
        return body

    def _stream_choice(self, content: str, finish_reason: str | None) -> dict[str, Any]:
        return {
            "index": 0,
            "delta": {"role": "assistant", "content": content},
            "finish_reason": finish_reason,
            "native_finish_reason": finish_reason,
            "logprobs": None,
        }

    def content_chunk(self, reply: _Reply, piece: str, first: bool) -> dict[str, Any]:
        return self._envelope(reply, "chat.completion.chunk", [self._stream_choice(piece, None)])

    def finish_chunk(self, reply: _Reply) -> dict[str, Any]:
        return self._envelope(reply, "chat.completion.chunk", [self._stream_choice("", reply.finish_reason)])

    def usage_chunk(self, reply: _Reply) -> dict[str, Any] | None:
        chunk = self._envelope(reply, "chat.completion.chunk", [])
        chunk["usage"] = self._usage(reply)
        return chunk

    def error_event(self, reply: _Reply, error: dict[str, Any]) -> dict[str, Any]:
        chunk = self._envelope(reply, "chat.completion.chunk", [self._stream_choice("", "error")])
        chunk["error"] = error
        return chunk

    def response_headers(self, reply: _Reply | None, request_headers: Mapping[str, str]) -> list[tuple[str, str]]:
        return [("x-generation-id", reply.response_id)] if reply is not None else []


_GIGACHAT = _GigaChatDialect()
_OPENROUTER = _OpenRouterDialect()


def _count_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _message_text(message: Any) -> str:
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _last_user_text(messages: Sequence[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _message_text(message)
    return ""


def _default_reply_text(provider: str, messages: Sequence[Any]) -> str:
    label = "GigaChat" if provider == "gigachat" else "OpenRouter"
    return f"{label}: ответ на «{_last_user_text(messages)[:40]}»"


def _split(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _sse(obj: Any) -> bytes:
    return b"data: " + _json_bytes(obj) + b"\n\n"


_DONE = b"data: [DONE]\n\n"
_JSON_TYPE = "application/json; charset=utf-8"
_SSE_TYPE = "text/event-stream; charset=utf-8"
_HTML_TYPE = "text/html; charset=utf-8"


# --------------------------------------------------------------------------- response plans


@dataclass
class _Part:
    data: bytes
    delay: float = 0.0


@dataclass
class _Plan:
    status: int
    headers: list[tuple[str, str]]
    parts: list[_Part] = field(default_factory=list)
    head_delay: float = 0.0
    abort: bool = False


def _body_plan(
    status: int,
    body: bytes,
    content_type: str,
    headers: Sequence[tuple[str, str]] = (),
    head_delay: float = 0.0,
) -> _Plan:
    all_headers = [("content-type", content_type), ("content-length", str(len(body))), *headers]
    return _Plan(status=status, headers=all_headers, parts=[_Part(body)], head_delay=head_delay)


def _html_body(code: int) -> bytes:
    return f"<html><body><h1>{code} {_phrase(code)}</h1>SynGX</body></html>".encode()


def _error_plan(dialect: _Dialect, fault: Fault, extra: Sequence[tuple[str, str]]) -> _Plan | None:
    headers = [*extra, *fault.headers]
    if fault.kind == "status":
        body = _json_bytes(dialect.error_body(fault.status_code, fault.message, fault.metadata))
        return _body_plan(fault.status_code, body, _JSON_TYPE, headers)
    if fault.kind == "html":
        return _body_plan(fault.status_code, _html_body(fault.status_code), _HTML_TYPE, headers)
    return None


def _stream_error() -> dict[str, Any]:
    return {"code": HTTPStatus.BAD_GATEWAY.value, "message": PROVIDER_ERROR_MESSAGE}


def _chat_plan(
    dialect: _Dialect,
    fault: Fault,
    reply: _Reply,
    *,
    stream: bool,
    chunk_delay: float,
    chunk_size: int,
    extra_headers: Sequence[tuple[str, str]],
) -> _Plan:
    error_plan = _error_plan(dialect, fault, extra_headers)
    if error_plan is not None:
        return error_plan
    pieces = _split(reply.text, chunk_size)
    k = min(fault.after_chunks, len(pieces))
    delay = fault.chunk_delay if fault.chunk_delay is not None else chunk_delay
    if stream:
        return _stream_plan(dialect, fault, reply, pieces, k, delay, extra_headers)

    hang = fault.seconds if fault.kind in _HANG_KINDS else 0.0
    if fault.chunk_delay is not None:
        hang += fault.chunk_delay * max(1, len(pieces))
    partial = "".join(pieces[:k])
    if fault.kind == "malformed_after":
        return _body_plan(200, MALFORMED_DATA, _JSON_TYPE, extra_headers)
    if fault.kind == "no_done_after":
        cut = dataclasses.replace(reply, text=partial, finish_reason=None)
        return _body_plan(200, _json_bytes(dialect.completion(cut)), _JSON_TYPE, extra_headers)
    if fault.kind == "stream_error_event_after":
        failed = dataclasses.replace(reply, text=partial, finish_reason="error")
        body = _json_bytes(dialect.completion(failed, _stream_error()))
        return _body_plan(200, body, _JSON_TYPE, extra_headers)
    plan = _body_plan(200, _json_bytes(dialect.completion(reply)), _JSON_TYPE, extra_headers, head_delay=hang)
    if fault.kind == "cut_after":
        body = plan.parts[0].data
        plan.parts = [_Part(body[: len(body) // 2])]
        plan.abort = True
    return plan


def _stream_plan(
    dialect: _Dialect,
    fault: Fault,
    reply: _Reply,
    pieces: list[str],
    k: int,
    delay: float,
    extra_headers: Sequence[tuple[str, str]],
) -> _Plan:
    headers = [("content-type", _SSE_TYPE), ("cache-control", "no-cache"), *extra_headers]
    events = [_Part(_sse(dialect.content_chunk(reply, piece, i == 0)), delay) for i, piece in enumerate(pieces)]
    kind = fault.kind
    abort = False
    if kind == "cut_after":
        events, abort = events[:k], True
    elif kind == "no_done_after":
        events = events[:k]
    elif kind == "malformed_after":
        events = [*events[:k], _Part(b"data: " + MALFORMED_DATA + b"\n\n", delay)]
    elif kind == "stream_error_event_after":
        events = [*events[:k], _Part(_sse(dialect.error_event(reply, _stream_error())), delay)]
    else:
        events.append(_Part(_sse(dialect.finish_chunk(reply)), delay))
        usage = dialect.usage_chunk(reply)
        if usage is not None:
            events.append(_Part(_sse(usage)))
        events.append(_Part(_DONE))
    if dialect.keepalive is not None:
        events.insert(0, _Part(dialect.keepalive))
        if len(events) > 3:
            events.insert(2, _Part(dialect.keepalive))
    if kind in ("silent_stream", "stall_after"):
        # A keep-alive comment would end the silence early, so it starts before them.
        events[_index_after_data(events, k if kind == "stall_after" else 0)].delay += fault.seconds
    head_delay = fault.seconds if kind == "hang_before_headers" else 0.0
    return _Plan(status=200, headers=headers, parts=events, head_delay=head_delay, abort=abort)


def _index_after_data(parts: list[_Part], count: int) -> int:
    seen = 0
    for index, part in enumerate(parts):
        if seen == count:
            return index
        if part.data.startswith(b"data:"):
            seen += 1
    return len(parts) - 1


class _AbortConnection(Exception):
    """Raised inside the ASGI app so uvicorn drops the connection instead of finishing the body."""


class _SuppressAbortLog(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info is not None and isinstance(record.exc_info[1], _AbortConnection))


class _Connection:
    def __init__(self, receive: Receive, release: threading.Event) -> None:
        self._receive = receive
        self._release = release
        self.disconnected = asyncio.Event()

    async def watch(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected.set()
                return

    @property
    def interrupted(self) -> bool:
        return self._release.is_set() or self.disconnected.is_set()

    async def pause(self, seconds: float) -> bool:
        """Sleep; False if the client went away or the fake was reset/stopped meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self.interrupted:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return True
            # Wakes at once on disconnect; the release event is a threading.Event, hence the polling.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.disconnected.wait(), min(remaining, _POLL_INTERVAL))
        return False

    def give_up(self) -> None:
        if not self.disconnected.is_set():
            raise _AbortConnection


class _PlannedResponse(Response):
    def __init__(self, plan: _Plan, release: threading.Event, on_done: Callable[[], None] | None = None) -> None:
        super().__init__(status_code=plan.status)
        self._plan = plan
        self._release = release
        self._on_done = on_done

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        conn = _Connection(receive, self._release)
        watcher = asyncio.ensure_future(conn.watch())
        try:
            await self._play(send, conn)
        finally:
            watcher.cancel()
            if self._on_done is not None:
                self._on_done()

    async def _play(self, send: Send, conn: _Connection) -> None:
        plan = self._plan
        if plan.head_delay > 0 and not await conn.pause(plan.head_delay):
            conn.give_up()
            return
        raw_headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in plan.headers]
        await send({"type": "http.response.start", "status": plan.status, "headers": raw_headers})
        for part in plan.parts:
            if part.delay > 0 and not await conn.pause(part.delay):
                conn.give_up()
                return
            if conn.disconnected.is_set():
                return
            await send({"type": "http.response.body", "body": part.data, "more_body": True})
        if plan.abort:
            raise _AbortConnection
        await send({"type": "http.response.body", "body": b"", "more_body": False})


# --------------------------------------------------------------------------- the server


def _json_response(status: int, body: Any, headers: Sequence[tuple[str, str]] = ()) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers))


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


class FakeUpstream:
    """Fake GigaChat (OAuth + API v1) and OpenRouter servers on one local port."""

    client_id: str
    client_secret: str
    scope: str
    token_ttl_ms: int
    openrouter_api_key: str
    gigachat_model: str | None
    openrouter_model: str | None
    chunk_delay: float
    chunk_size: int
    gigachat_concurrency_limit: int | None

    def __init__(self, *, ssl_certfile: str | None = None, ssl_keyfile: str | None = None) -> None:
        """With ``ssl_certfile`` (and ``ssl_keyfile`` unless the key is in the same file) it serves HTTPS."""
        self._ssl_certfile = ssl_certfile
        self._ssl_keyfile = ssl_keyfile
        self.files: dict[str, bytes] = {}
        """Served as-is at ``{url}/files/<name>`` (e.g. a CA certificate to download)."""
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._initial_client_id = str(uuid.uuid4())
        self._initial_client_secret = str(uuid.uuid4())
        self._initial_openrouter_key = "sk-or-v1-test" + secrets.token_hex(24)
        self.gigachat = UpstreamTarget("gigachat", self._lock)
        self.openrouter = UpstreamTarget("openrouter", self._lock)
        self.oauth = UpstreamTarget("oauth", self._lock, allowed=_OAUTH_KINDS)
        self.embeddings = UpstreamTarget("embeddings", self._lock, allowed=_SIDE_ENDPOINT_KINDS | {"reply"})
        """GigaChat's `POST /embeddings`: deterministic vectors in which texts sharing words point the same way."""
        self._tokens: dict[str, int] = {}
        self._revoked: set[str] = set()
        self._rquids: list[str] = []
        self._gigachat_429_concurrency = 0
        self._release = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._log_filter = _SuppressAbortLog()
        self._apply_default_settings()

    def _apply_default_settings(self) -> None:
        self.client_id = self._initial_client_id
        self.client_secret = self._initial_client_secret
        self.scope = PERS_SCOPE
        self.token_ttl_ms = DEFAULT_TOKEN_TTL_MS
        self.openrouter_api_key = self._initial_openrouter_key
        self.gigachat_model = DEFAULT_GIGACHAT_MODEL
        self.openrouter_model = DEFAULT_OPENROUTER_MODEL
        self.chunk_delay = DEFAULT_CHUNK_DELAY
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.gigachat_concurrency_limit = None
        self.gigachat_balance: list[dict[str, Any]] | None = None
        """What `GET /api/v1/balance` answers for a prepaid key; None: the key is not prepaid (403)."""

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> FakeUpstream:
        if self._thread is not None:
            raise RuntimeError("FakeUpstream is already running")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: without it Nagle holds the body behind the headers until the
        # client's delayed ACK, and every answer costs ~40 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._build_app(),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="asyncio",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=1,
            ssl_certfile=self._ssl_certfile,
            ssl_keyfile=self._ssl_keyfile,
        )
        self._server = uvicorn.Server(config)
        with self._lock:
            self._release = threading.Event()
        logging.getLogger("uvicorn.error").addFilter(self._log_filter)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"fake-upstream-{self._port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("FakeUpstream failed to start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Release hanging requests and shut the server down."""
        with self._lock:
            self._release.set()
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(_STOP_TIMEOUT)
            if thread.is_alive():
                server.force_exit = True
                thread.join(_STOP_TIMEOUT)
        logging.getLogger("uvicorn.error").removeFilter(self._log_filter)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget faults, logs, counters and tokens, restore the settings, release hangs."""
        with self._lock:
            self._release.set()
            self._release = threading.Event()
            for target in (self.gigachat, self.openrouter, self.oauth, self.embeddings):
                target._reset_locked()
            self._tokens.clear()
            self._revoked.clear()
            self._rquids.clear()
            self._gigachat_429_concurrency = 0
            self.files.clear()
        self._apply_default_settings()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no chat response is in progress (e.g. after a client dropped a stream)."""
        deadline = time.monotonic() + timeout
        while self.gigachat.in_flight or self.openrouter.in_flight:
            if time.monotonic() > deadline:
                return False
            time.sleep(_POLL_INTERVAL)
        return True

    # ----------------------------------------------------------------- addresses and settings

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeUpstream is not started")
        scheme = "https" if self._ssl_certfile else "http"
        return f"{scheme}://127.0.0.1:{self._port}"

    @property
    def gigachat_base_url(self) -> str:
        return f"{self.url}/gigachat/api/v1"

    @property
    def gigachat_auth_url(self) -> str:
        return f"{self.url}/gigachat/api/v2/oauth"

    @property
    def openrouter_base_url(self) -> str:
        return f"{self.url}/openrouter/api/v1"

    @property
    def credentials(self) -> str:
        """The GigaChat authorization key: base64("client_id:client_secret")."""
        raw = f"{self.client_id}:{self.client_secret}".encode()
        return base64.b64encode(raw).decode("ascii")

    @property
    def concurrency_limit(self) -> int:
        if self.gigachat_concurrency_limit is not None:
            return self.gigachat_concurrency_limit
        return PERS_CONCURRENCY_LIMIT if self.scope == PERS_SCOPE else OTHER_CONCURRENCY_LIMIT

    # ----------------------------------------------------------------- tokens and counters

    def issue_token(self, ttl_ms: int | None = None) -> str:
        """Mint a valid access token without an OAuth call."""
        return self._issue_token(ttl_ms if ttl_ms is not None else self.token_ttl_ms)[0]

    def revoke_tokens(self) -> None:
        """Every token issued so far gets 401 "Token has expired" from now on."""
        with self._lock:
            self._revoked.update(self._tokens)
            self._tokens.clear()

    @property
    def oauth_calls(self) -> int:
        return self.oauth.request_count

    @property
    def oauth_rquids(self) -> list[str]:
        with self._lock:
            return list(self._rquids)

    @property
    def gigachat_in_flight(self) -> int:
        return self.gigachat.in_flight

    @property
    def max_concurrent_gigachat(self) -> int:
        return self.gigachat.max_in_flight

    @property
    def gigachat_429_concurrency(self) -> int:
        with self._lock:
            return self._gigachat_429_concurrency

    def _issue_token(self, ttl_ms: int) -> tuple[str, int]:
        token = secrets.token_urlsafe(48)
        expires_at = int(time.time() * 1000) + ttl_ms
        with self._lock:
            self._tokens[token] = expires_at
        return token, expires_at

    def _token_problem(self, authorization: str) -> str | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "Unauthorized"
        with self._lock:
            if token in self._revoked:
                return "Token has expired"
            expires_at = self._tokens.get(token)
        if expires_at is None:
            return "Unauthorized"
        if expires_at <= time.time() * 1000:
            return "Token has expired"
        return None

    # ----------------------------------------------------------------- handlers

    def _build_app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/gigachat/api/v2/oauth", self._oauth, methods=["POST"]),
                Route("/gigachat/api/v1/chat/completions", self._gigachat_chat, methods=["POST"]),
                Route("/gigachat/api/v1/models", self._gigachat_models, methods=["GET"]),
                Route("/gigachat/api/v1/balance", self._gigachat_balance, methods=["GET"]),
                Route("/gigachat/api/v1/embeddings", self._gigachat_embeddings, methods=["POST"]),
                Route("/openrouter/api/v1/chat/completions", self._openrouter_chat, methods=["POST"]),
                Route("/openrouter/api/v1/models", self._openrouter_models, methods=["GET"]),
                Route("/files/{name}", self._file, methods=["GET"]),
            ]
        )

    async def _file(self, request: Request) -> Response:
        content = self.files.get(request.path_params["name"])
        if content is None:
            return Response(status_code=404)
        return Response(content, media_type="application/octet-stream")

    async def _read(self, request: Request) -> tuple[dict[str, str], bytes]:
        return {name.lower(): value for name, value in request.headers.items()}, await request.body()

    async def _oauth(self, request: Request) -> Response:
        headers, raw = await self._read(request)
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        with self._lock:
            self.oauth._record_locked({"headers": headers, "json": form, "path": request.url.path}, counted=True)
            self._rquids.append(headers.get("rquid", ""))
            fault = self.oauth._next_fault_locked()
            release = self._release
        if fault.kind in ("status", "html"):
            body = _json_bytes(_oauth_error(fault.status_code, fault.message))
            if fault.kind == "html":
                body = _html_body(fault.status_code)
            content_type = _JSON_TYPE if fault.kind == "status" else _HTML_TYPE
            return _PlannedResponse(_body_plan(fault.status_code, body, content_type, fault.headers), release)
        status, payload = self._oauth_outcome(headers, form)
        plan = _body_plan(status, _json_bytes(payload), _JSON_TYPE, head_delay=fault.seconds)
        if fault.kind == "cut_after":
            plan.parts = [_Part(plan.parts[0].data[: len(plan.parts[0].data) // 2])]
            plan.abort = True
        return _PlannedResponse(plan, release)

    def _oauth_outcome(self, headers: Mapping[str, str], form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        if not _RQUID_RE.match(headers.get("rquid", "")):
            return 400, _oauth_error(400, "RqUID header is missing or invalid")
        scheme, _, key = headers.get("authorization", "").partition(" ")
        try:
            decoded = base64.b64decode(key, validate=True).decode() if scheme.lower() == "basic" else None
        except (binascii.Error, UnicodeDecodeError):
            decoded = None
        if decoded is None:
            return 401, _oauth_error(4, "Can't decode 'Authorization' header")
        if decoded != f"{self.client_id}:{self.client_secret}":
            return 401, _oauth_error(6, "credentials doesn't match db data")
        scope = form.get("scope", "")
        if not scope:
            return 400, _oauth_error(5, "scope is empty")
        if scope != self.scope:
            return 400, _oauth_error(7, "scope from db not fully includes consumed scope")
        token, expires_at = self._issue_token(self.token_ttl_ms)
        return 200, {"access_token": token, "expires_at": expires_at}

    async def _gigachat_chat(self, request: Request) -> Response:
        headers, raw = await self._read(request)
        body = _parse_json(raw)
        with self._lock:
            self.gigachat._record_locked({"headers": headers, "json": body, "path": request.url.path}, counted=True)
        extra = _GIGACHAT.response_headers(None, headers)
        problem = self._token_problem(headers.get("authorization", ""))
        if problem is not None:
            return _json_response(401, {"status": 401, "message": problem}, extra)
        invalid = _validate_gigachat(body)
        if invalid is not None:
            status, message = invalid
            return _json_response(status, {"status": status, "message": message}, extra)
        request_id = next(self._ids)
        with self._lock:
            if len(self.gigachat._in_flight) >= self.concurrency_limit:
                self._gigachat_429_concurrency += 1
                return _json_response(429, {"status": 429, "message": "Too many requests"}, extra)
            self.gigachat._enter_locked(request_id)
            fault = self.gigachat._next_fault_locked()
            release = self._release
        messages = body["messages"]
        function, schema = _gigachat_function(body)
        reply = self._reply(
            "gigachat",
            fault,
            messages,
            self.gigachat_model or f"{body['model']}:{_GIGACHAT_VERSION_SUFFIX}",
            schema=schema,
            function=function,
        )
        plan = _chat_plan(
            _GIGACHAT,
            fault,
            reply,
            stream=bool(body.get("stream")),
            chunk_delay=self.chunk_delay,
            chunk_size=self.chunk_size,
            extra_headers=extra,
        )
        return _PlannedResponse(plan, release, lambda: self._leave(self.gigachat, request_id))

    async def _openrouter_chat(self, request: Request) -> Response:
        headers, raw = await self._read(request)
        body = _parse_json(raw)
        with self._lock:
            self.openrouter._record_locked({"headers": headers, "json": body, "path": request.url.path}, counted=True)
        if headers.get("authorization", "") != f"Bearer {self.openrouter_api_key}":
            return _json_response(401, _OPENROUTER.error_body(401, "No auth credentials found", None))
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            message = 'Input required: specify "prompt" or "messages"'
            return _json_response(400, _OPENROUTER.error_body(400, message, None))
        schema_problem = _strict_schema_problem(_openrouter_schema(body), body)
        if schema_problem is not None:
            return _json_response(400, _OPENROUTER.error_body(400, schema_problem, None))
        request_id = next(self._ids)
        with self._lock:
            self.openrouter._enter_locked(request_id)
            fault = self.openrouter._next_fault_locked()
            release = self._release
        requested = body.get("model") if isinstance(body.get("model"), str) else DEFAULT_OPENROUTER_MODEL
        reply = self._reply(
            "openrouter", fault, messages, self.openrouter_model or requested, schema=_openrouter_schema(body)
        )
        plan = _chat_plan(
            _OPENROUTER,
            fault,
            reply,
            stream=bool(body.get("stream")),
            chunk_delay=self.chunk_delay,
            chunk_size=self.chunk_size,
            extra_headers=_OPENROUTER.response_headers(reply, headers),
        )
        return _PlannedResponse(plan, release, lambda: self._leave(self.openrouter, request_id))

    async def _gigachat_models(self, request: Request) -> Response:
        headers, _ = await self._read(request)
        with self._lock:
            self.gigachat._record_locked({"headers": headers, "json": None, "path": request.url.path}, counted=False)
            fault = self.gigachat._persistent_fault_locked()
            release = self._release
        extra = _GIGACHAT.response_headers(None, headers)
        problem = self._token_problem(headers.get("authorization", ""))
        if problem is not None:
            return _json_response(401, {"status": 401, "message": problem}, extra)
        body = {"object": "list", "data": [dict(model) for model in GIGACHAT_MODELS]}
        return self._side_response(_GIGACHAT, fault, release, body, extra)

    async def _gigachat_balance(self, request: Request) -> Response:
        """The package left on a prepaid key; other keys get 403, as from GigaChat."""
        headers, _ = await self._read(request)
        with self._lock:
            self.gigachat._record_locked({"headers": headers, "json": None, "path": request.url.path}, counted=False)
            fault = self.gigachat._persistent_fault_locked()
            release = self._release
            balance = self.gigachat_balance
        extra = _GIGACHAT.response_headers(None, headers)
        problem = self._token_problem(headers.get("authorization", ""))
        if problem is not None:
            return _json_response(401, {"status": 401, "message": problem}, extra)
        if balance is None:
            return _json_response(403, {"status": 403, "message": "Permission denied"}, extra)
        return self._side_response(_GIGACHAT, fault, release, {"balance": [dict(b) for b in balance]}, extra)

    async def _gigachat_embeddings(self, request: Request) -> Response:
        headers, raw = await self._read(request)
        body = _parse_json(raw)
        with self._lock:
            self.embeddings._record_locked({"headers": headers, "json": body, "path": request.url.path}, counted=True)
            fault = self.embeddings._next_fault_locked()
            release = self._release
        extra = _GIGACHAT.response_headers(None, headers)
        problem = self._token_problem(headers.get("authorization", ""))
        if problem is not None:
            return _json_response(401, {"status": 401, "message": problem}, extra)
        texts = body.get("input") if isinstance(body, dict) else None
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return _json_response(
                422, _GIGACHAT.error_body(422, "Invalid params: input must be a list of strings", None)
            )
        model = body.get("model") or "Embeddings"
        data = [
            {
                "object": "embedding",
                "embedding": fake_embedding(text),
                "index": index,
                "usage": {"prompt_tokens": _count_tokens(text)},
            }
            for index, text in enumerate(texts)
        ]
        reply = {"object": "list", "data": data, "model": model}
        return self._side_response(_GIGACHAT, fault if fault.kind != "reply" else None, release, reply, extra)

    async def _openrouter_models(self, request: Request) -> Response:
        headers, _ = await self._read(request)
        with self._lock:
            self.openrouter._record_locked({"headers": headers, "json": None, "path": request.url.path}, counted=False)
            fault = self.openrouter._persistent_fault_locked()
            release = self._release
        body = {"data": [dict(model) for model in OPENROUTER_MODELS]}
        return self._side_response(_OPENROUTER, fault, release, body, [])

    def _side_response(
        self,
        dialect: _Dialect,
        fault: Fault | None,
        release: threading.Event,
        body: Any,
        extra: Sequence[tuple[str, str]],
    ) -> Response:
        if fault is None:
            return _json_response(200, body, extra)
        plan = _error_plan(dialect, fault, extra) or _body_plan(
            200, _json_bytes(body), _JSON_TYPE, extra, head_delay=fault.seconds
        )
        return _PlannedResponse(plan, release)

    def _reply(
        self,
        provider: str,
        fault: Fault,
        messages: Sequence[Any],
        model: str,
        *,
        schema: Any = None,
        function: str | None = None,
    ) -> _Reply:
        """``schema``: the request asked for a structured document; ``function``: as this GigaChat function."""
        function_call: dict[str, Any] | None = None
        finish_reason = fault.finish_reason
        structured = fault.text is None and finish_reason == "stop" and (fault.structured is not None or schema)
        if structured:
            document = fault.structured if fault.structured is not None else _example_for_schema(schema)
            if function is not None:
                function_call = {"name": function, "arguments": document}
                text, finish_reason = "", "function_call"
            else:
                text = json.dumps(document, ensure_ascii=False)
        else:
            text = fault.text if fault.text is not None else _default_reply_text(provider, messages)
        prompt_chars = "".join(_message_text(message) for message in messages)
        answer_chars = text or json.dumps(function_call, ensure_ascii=False)
        return _Reply(
            text=text,
            finish_reason=finish_reason,
            model=model,
            created=int(time.time()),
            prompt_tokens=max(1, _count_tokens(prompt_chars)),
            completion_tokens=_count_tokens(answer_chars),
            response_id=f"gen-{int(time.time())}-{secrets.token_hex(10)}",
            function_call=function_call,
        )

    def _leave(self, target: UpstreamTarget, request_id: int) -> None:
        with self._lock:
            target._leave_locked(request_id)


def _oauth_error(code: int, message: str | None) -> dict[str, Any]:
    return {"code": code, "message": message or _phrase(code)}


def _validate_gigachat(body: Any) -> tuple[int, str] | None:
    if not isinstance(body, dict):
        return 400, "Invalid JSON body"
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return 422, "Invalid params: model is required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return 422, "Invalid params: messages must not be empty"
    for index, message in enumerate(messages):
        if isinstance(message, dict) and message.get("role") == "system" and index > 0:
            return 422, "Invalid params: system message must be the first message"
        if isinstance(message, dict) and message.get("role") == "function":
            problem = _function_result_problem(messages, index)
            if problem is not None:
                return 422, problem
    return _validate_functions(body)


def _function_result_problem(messages: list[Any], index: int) -> str | None:
    """A `function` message carries a function's result: it answers the assistant's `function_call` just before
    it, names that function, and its content is a JSON object serialised to a string."""
    previous = messages[index - 1] if index > 0 else None
    call = previous.get("function_call") if isinstance(previous, dict) else None
    if not (isinstance(previous, dict) and previous.get("role") == "assistant" and isinstance(call, dict)):
        return "Invalid params: a function message must follow an assistant message with function_call"
    if not isinstance(call.get("arguments"), dict):
        return "Invalid params: function_call.arguments must be a JSON object"
    message = messages[index]
    if message.get("name") != call.get("name"):
        return "Invalid params: function message name does not match the function_call"
    try:
        content = json.loads(message.get("content") or "")
    except ValueError:
        content = None
    if not isinstance(content, dict):
        return "Invalid params: function message content must be a JSON object"
    return None


# What OpenAI-style strict structured output accepts (OpenRouter passes the rules on).
_STRICT_KEYWORDS = frozenset(
    {"type", "description", "enum", "items", "properties", "required", "additionalProperties", "anyOf"}
    | {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems"}
    | {"pattern", "format", "const"}
)


def _strict_schema_problem(schema: Any, body: dict[str, Any]) -> str | None:
    """Why a strict `json_schema` would be rejected: an unsupported keyword, an object that is not closed, or a
    property that is not required."""
    response_format = body.get("response_format")
    strict = isinstance(response_format, dict) and (response_format.get("json_schema") or {}).get("strict") is True
    if not strict or not isinstance(schema, dict):
        return None

    def check(node: Any, path: str) -> str | None:
        if not isinstance(node, dict):
            return None
        unknown = sorted(set(node) - _STRICT_KEYWORDS)
        if unknown:
            return f"Invalid schema for response_format: '{path}' uses unsupported keyword '{unknown[0]}'"
        kind = node.get("type")
        if kind == "object" or (isinstance(kind, list) and "object" in kind):
            if node.get("additionalProperties") is not False:
                return f"Invalid schema for response_format: '{path}' must set additionalProperties to false"
            properties = node.get("properties", {})
            if set(node.get("required", [])) != set(properties):
                return f"Invalid schema for response_format: every property of '{path}' must be required"
            for name, sub in properties.items():
                problem = check(sub, f"{path}.{name}")
                if problem:
                    return problem
        for sub in [node.get("items"), *node.get("anyOf", [])]:
            problem = check(sub, f"{path}[]")
            if problem:
                return problem
        return None

    return check(schema, "root")


_FUNCTION_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _validate_functions(body: dict[str, Any]) -> tuple[int, str] | None:
    functions = body.get("functions")
    call = body.get("function_call")
    if functions is None:
        if isinstance(call, dict):
            return 422, "Invalid params: function_call requires functions"
        return None
    if not isinstance(functions, list) or not functions:
        return 422, "Invalid params: functions must be a non-empty list"
    names = []
    for function in functions:
        if not isinstance(function, dict) or not _FUNCTION_NAME_RE.match(str(function.get("name", ""))):
            return 422, "Invalid params: function name must contain only Latin letters, digits and underscores"
        if not isinstance(function.get("parameters"), dict):
            return 422, "Invalid params: function parameters must be a JSON schema object"
        names.append(function["name"])
    if isinstance(call, dict) and call.get("name") not in names:
        return 422, "Invalid params: function_call.name is not among functions"
    if call is not None and not isinstance(call, dict) and call not in ("auto", "none"):
        return 422, "Invalid params: function_call must be 'auto', 'none' or {name}"
    return None


def _gigachat_function(body: dict[str, Any]) -> tuple[str | None, Any]:
    """The function a (validated) GigaChat request makes the model call, and its parameters schema."""
    functions = body.get("functions")
    call = body.get("function_call")
    if not functions or call == "none":
        return None, None
    name = call["name"] if isinstance(call, dict) else functions[0]["name"]
    chosen = next(f for f in functions if f["name"] == name)
    return name, chosen["parameters"]


def _openrouter_schema(body: dict[str, Any]) -> Any:
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema")
        return spec.get("schema", {}) if isinstance(spec, dict) else {}
    return None


FAKE_EMBEDDING_DIM = 256


def fake_embedding(text: str) -> list[float]:
    """A unit vector of hashed words (each word's first six letters, so «разработчик» and «разработчика» agree):
    texts that share words have a high cosine, unrelated texts a low one. Deterministic across processes."""
    import hashlib

    vector = [0.0] * FAKE_EMBEDDING_DIM
    for word in re.findall(r"[^\W_]+", text.lower().replace("ё", "е")):
        if len(word) < 2:
            continue
        digest = hashlib.blake2b(word[:6].encode(), digest_size=4).digest()
        vector[int.from_bytes(digest, "big") % FAKE_EMBEDDING_DIM] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def _example_for_schema(schema: Any) -> Any:
    """A minimal instance of a JSON schema: what a structured request gets when no answer was queued."""
    if not isinstance(schema, dict):
        return {}
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        return {name: _example_for_schema(sub) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return []
    if kind == "string":
        return "пример"
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return True
    return None
