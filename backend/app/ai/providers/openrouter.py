"""OpenRouter (DeepSeek and others) through the official `openai` SDK, pointed at OpenRouter's base URL.

The SDK's own retries are off (`max_retries=0`): the provider chain is the only retry layer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator
from functools import cached_property
from typing import Any

import httpx2
import openai

from app.ai.errors import ErrorKind, ProviderError, finish_event, http_error
from app.ai.types import Delta, LLMRequest, ProviderEvent, StructuredReply, StructuredSpec
from app.core.config import Settings

logger = logging.getLogger("app.ai.providers.openrouter")


def _error_message(body: object) -> str | None:
    """OpenRouter's `{"error": {"code", "message"}}` (the SDK may hand us the inner object)."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])[:200]
    return None


def _retry_after(response: httpx2.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def translate_error(exc: BaseException) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        return http_error(exc.status_code, _error_message(exc.body), _retry_after(exc.response))
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(ErrorKind.TIMEOUT)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        if isinstance(cause, httpx2.RemoteProtocolError | httpx2.ReadError):
            return ProviderError(ErrorKind.TRUNCATED, "соединение разорвано")
        return ProviderError(ErrorKind.CONNECT, "сервер недоступен")
    if isinstance(exc, openai.APIError):
        # An error event inside an already started (HTTP 200) stream.
        return ProviderError(ErrorKind.SERVER, _error_message(exc.body) or exc.message[:200])
    if isinstance(exc, httpx2.RemoteProtocolError | httpx2.ReadError):
        return ProviderError(ErrorKind.TRUNCATED, "соединение разорвано")
    if isinstance(exc, httpx2.TimeoutException):
        return ProviderError(ErrorKind.TIMEOUT)
    if isinstance(exc, httpx2.TransportError):
        return ProviderError(ErrorKind.CONNECT, type(exc).__name__)
    if isinstance(exc, ValueError):
        return ProviderError(ErrorKind.MALFORMED, "не удалось разобрать фрагмент ответа")
    return ProviderError(ErrorKind.SERVER, type(exc).__name__)


REPLAYED_TEXT_CHARS = 12000


def structured_messages(request: LLMRequest) -> list[dict[str, str]]:
    """The conversation for a structured call; a repair turn replays the earlier document as the assistant's
    text, then asks for the fix."""
    messages = list(request.messages)
    repair = request.repair
    if repair is not None:
        previous = (
            repair.previous if isinstance(repair.previous, str) else json.dumps(repair.previous, ensure_ascii=False)
        )
        messages.append({"role": "assistant", "content": previous[:REPLAYED_TEXT_CHARS]})
        messages.append({"role": "user", "content": repair.prompt})
    return messages


def closed_objects(schema: dict[str, Any]) -> dict[str, Any]:
    """Strict structured output (OpenAI's rules, which OpenRouter passes on) wants every object closed."""
    out: dict[str, Any] = dict(schema)
    kind = out.get("type")
    if kind == "object" or (isinstance(kind, list) and "object" in kind):
        out["additionalProperties"] = False
        out["properties"] = {name: closed_objects(sub) for name, sub in out.get("properties", {}).items()}
    if isinstance(out.get("items"), dict):
        out["items"] = closed_objects(out["items"])
    return out


class OpenRouterService:
    name = "openrouter"
    title = "OpenRouter"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model = settings.OPENROUTER_MODEL
        self.max_concurrency = settings.OPENROUTER_MAX_CONCURRENCY

    @cached_property
    def client(self) -> openai.AsyncOpenAI:
        key = self.settings.OPENROUTER_API_KEY
        if key is None:
            raise ProviderError(ErrorKind.AUTH, "OPENROUTER_API_KEY не задан")
        return openai.AsyncOpenAI(
            api_key=key.get_secret_value(),
            base_url=self.settings.OPENROUTER_BASE_URL,
            max_retries=0,
            timeout=httpx2.Timeout(
                self.settings.LLM_TOTAL_TIMEOUT,
                connect=self.settings.LLM_CONNECT_TIMEOUT,
                read=self.settings.LLM_STREAM_IDLE_TIMEOUT + self.settings.LLM_FIRST_TOKEN_TIMEOUT,
            ),
            default_headers={
                "HTTP-Referer": self.settings.OPENROUTER_SITE_URL,
                "X-OpenRouter-Title": self.settings.OPENROUTER_APP_TITLE,
                "X-Title": self.settings.OPENROUTER_APP_TITLE,
            },
        )

    async def stream(self, request: LLMRequest) -> AsyncGenerator[ProviderEvent, None]:
        finish_reason: str | None = None
        model: str | None = None
        usage: Any = None
        try:
            response = await self.client.chat.completions.create(  # type: ignore[call-overload]
                model=self.model,
                messages=request.messages,
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                stream=True,
                stream_options={"include_usage": True},
            )
            async with response:
                async for chunk in response:
                    model = chunk.model or model
                    usage = chunk.usage or usage
                    for choice in chunk.choices:
                        if choice.delta and choice.delta.content:
                            yield Delta(choice.delta.content)
                        if choice.finish_reason:
                            finish_reason = choice.finish_reason
        except Exception as exc:
            raise translate_error(exc) from None
        finish = finish_event(finish_reason, model, usage)
        if finish is not None:
            yield finish

    async def complete_structured(self, request: LLMRequest, spec: StructuredSpec) -> StructuredReply:
        try:
            response = await self.client.chat.completions.create(  # type: ignore[call-overload]
                model=self.model,
                messages=structured_messages(request),
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                response_format={
                    "type": "json_schema",
                    "json_schema": {
                        "name": spec.name,
                        "strict": True,
                        "schema": closed_objects(spec.strict_schema or spec.schema),
                    },
                },
                # The reply arrives all at once: reading may take as long as the chain allows.
                timeout=httpx2.Timeout(
                    self.settings.LLM_STRUCTURED_TIMEOUT + 1, connect=self.settings.LLM_CONNECT_TIMEOUT
                ),
            )
        except Exception as exc:
            raise translate_error(exc) from None
        if not response.choices:
            raise ProviderError(ErrorKind.MALFORMED, "ответ без вариантов")
        choice = response.choices[0]
        usage = response.usage
        return StructuredReply(
            data=choice.message.content,
            finish_reason=choice.finish_reason,
            model=response.model,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
        )

    async def aclose(self) -> None:
        if "client" in self.__dict__:
            await self.client.close()
