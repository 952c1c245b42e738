"""GigaChat (Sber) on the official `gigachat` SDK: the guide's blocking calls (`get_access_token()`, `chat()`;
the module-level facade is `app.services.gigachat`) and async `complete()` and `stream()` for the server.

The SDK caches the OAuth token per client, refreshes it a minute before `expires_at` (milliseconds) under a
lock, so concurrent first requests cause one OAuth call, and on a 401 refreshes once and retries. Its own
retry layer stays off: the provider chain is the only one. The async calls go over aiohttp
(`_aiohttp_client`); OAuth and the guide's blocking calls over httpx, as the SDK builds them.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import AsyncGenerator, Mapping, Sequence
from functools import cached_property
from typing import Any

import aiohttp
import certifi
import httpx
import pydantic
from aiohttp.helpers import get_env_proxy_for_url
from gigachat import GigaChat
from gigachat import exceptions as gx
from httpx_aiohttp import AiohttpTransport
from yarl import URL

from app.ai.errors import ErrorKind, ProviderError, collect_text, finish_event, http_error
from app.ai.types import Delta, LLMRequest, ProviderEvent, StructuredReply, StructuredSpec
from app.core.config import Settings

logger = logging.getLogger("app.ai.providers.gigachat")

TLS_ADVICE = (
    "установите корневой сертификат НУЦ Минцифры (Russian Trusted Root CA) и укажите его в GIGACHAT_CA_BUNDLE_FILE"
)


class GigaChatError(RuntimeError):
    """A GigaChat failure with a message fit for an operator: no keys, no tokens, no stack trace needed."""


def build_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """System roots + certifi + the configured CA (the Russian Trusted Root CA in production).

    Returns None when verification is explicitly disabled.
    """
    if not settings.GIGACHAT_VERIFY_SSL_CERTS:
        return None
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=certifi.where())
    if settings.GIGACHAT_CA_BUNDLE_FILE is not None:
        context.load_verify_locations(cafile=str(settings.GIGACHAT_CA_BUNDLE_FILE))
    return context


def _body_message(content: bytes | None) -> str | None:
    """The `message` of a `{status,message}` / `{code,message}` body; a note for HTML; never headers."""
    if not content:
        return None
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        text = content.decode("utf-8", "replace").lstrip().lower()
        return "HTML-страница шлюза" if text.startswith("<") else None
    if isinstance(data, dict):
        message = data.get("message")
        code = data.get("code")
        if isinstance(message, str):
            suffix = f" (code {code})" if isinstance(code, int) else ""
            return message[:200] + suffix
    return None


def translate_error(exc: BaseException) -> ProviderError:
    """Map an SDK/httpx exception to a classified, secret-free `ProviderError`."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, gx.ResponseError):
        status = exc.status_code
        detail = _body_message(exc.content)
        return http_error(status, detail, _retry_after(exc))
    if isinstance(exc, gx.GigaChatException):
        return ProviderError(ErrorKind.BAD_REQUEST, type(exc).__name__)
    network = _network_failure(exc)
    if network is not None:
        return network
    if isinstance(exc, pydantic.ValidationError | ValueError):
        return ProviderError(ErrorKind.MALFORMED, "не удалось разобрать фрагмент ответа")
    if isinstance(exc, httpx.TransportError):
        return ProviderError(ErrorKind.CONNECT, str(exc)[:200] or type(exc).__name__)
    if isinstance(exc, aiohttp.ClientError):
        return ProviderError(ErrorKind.CONNECT, type(exc).__name__)
    return ProviderError(ErrorKind.SERVER, type(exc).__name__)


def _network_failure(exc: BaseException) -> ProviderError | None:
    """A TLS failure, timeout, refused connection or cut stream, of httpx (OAuth, the blocking calls) or of the
    aiohttp transport under the async calls (`_aiohttp_client`); None for anything else. An aiohttp failure is
    classified by the aiohttp error itself, not by the httpx one the transport raises from it: that maps a
    refused connection and a certificate failure alike to a connect timeout."""
    cause = exc if isinstance(exc, aiohttp.ClientError) else exc.__cause__
    failure = cause if isinstance(cause, aiohttp.ClientError) else exc
    if isinstance(failure, httpx.ConnectError | aiohttp.ClientConnectorError) and _is_tls_failure(failure):
        return ProviderError(ErrorKind.TLS, f"CERTIFICATE_VERIFY_FAILED — {TLS_ADVICE}")
    if isinstance(failure, httpx.TimeoutException | aiohttp.ServerTimeoutError):
        return ProviderError(ErrorKind.TIMEOUT, type(failure).__name__)
    if isinstance(failure, httpx.ConnectError | aiohttp.ClientConnectorError):
        return ProviderError(ErrorKind.CONNECT, "сервер недоступен")
    cut = (httpx.RemoteProtocolError, httpx.ReadError, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError)
    if isinstance(failure, (*cut, aiohttp.ClientResponseError)):
        return ProviderError(ErrorKind.TRUNCATED, "соединение разорвано")
    return None


def _retry_after(exc: gx.ResponseError) -> float | None:
    """Seconds from a `Retry-After` header; None when there is none (the SDK would say 0)."""
    value = exc.headers.get("retry-after") if exc.headers else None
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


REPLAYED_TEXT_CHARS = 12000


def structured_messages(request: LLMRequest, spec: StructuredSpec) -> list[dict[str, Any]]:
    """The conversation for a structured call. A repair turn replays the earlier call the way GigaChat's
    function calling records it: the assistant's `function_call` with its arguments, then a `function`
    message whose content (a JSON object) says why the result was rejected, then the request to fix it."""
    messages: list[dict[str, Any]] = list(request.messages)
    repair = request.repair
    if repair is None:
        return messages
    if isinstance(repair.previous, dict):
        messages.append(
            {"role": "assistant", "content": "", "function_call": {"name": spec.name, "arguments": repair.previous}}
        )
        result = {"status": "rejected", "errors": repair.problems}
        messages.append({"role": "function", "name": spec.name, "content": json.dumps(result, ensure_ascii=False)})
    else:
        # The model answered with text instead of calling the function: replay that text.
        messages.append({"role": "assistant", "content": repair.previous[:REPLAYED_TEXT_CHARS]})
    messages.append({"role": "user", "content": repair.prompt})
    return messages


HTTPX_KEEPALIVE_SECONDS = 5.0


def _aiohttp_client(base_url: str, context: ssl.SSLContext | None, limit: int, timeout: float) -> httpx.AsyncClient:
    """An httpx client whose requests aiohttp sends (httpx-aiohttp's transport, the one the `openai` SDK offers
    as `DefaultAioHttpClient`). The SDK still builds every request and reads every response through httpx;
    only the connection and the HTTP parsing are aiohttp's, in C: about 0.55 ms of CPU less per streamed
    answer at 50 at a time (bench/README.md, fifth pass).

    TLS is verified with `context` (None only when verification is explicitly disabled). A proxy set in the
    environment (HTTPS_PROXY, NO_PROXY) is honoured, as httpx does, but looked up once here: aiohttp's own
    `trust_env` looks it up, and reads ~/.netrc, on every request, which cost more than the transport saved.
    Idle connections are closed after httpx's 5 s. aiohttp's pool does not walk all its connections at each
    request as httpx's did (with 200 answers in flight that walk was 30 % of the server's CPU, and streamed
    calls were spread over several SDK clients for it): one client holds every connection."""
    try:
        proxy, proxy_auth = get_env_proxy_for_url(URL(base_url))
    except LookupError:
        proxy, proxy_auth = None, None

    def session() -> aiohttp.ClientSession:  # built on the first request, inside the running event loop
        connector = aiohttp.TCPConnector(
            limit=limit, ssl=context if context is not None else False, keepalive_timeout=HTTPX_KEEPALIVE_SECONDS
        )
        return aiohttp.ClientSession(connector=connector, proxy=proxy, proxy_auth=proxy_auth)

    return httpx.AsyncClient(
        base_url=base_url, timeout=httpx.Timeout(timeout), transport=AiohttpTransport(client=session)
    )


class GigaChatService:
    """One SDK client per service instance, so one cached OAuth token per process; the server builds its own
    instance inside its event loop."""

    name = "gigachat"
    title = "GigaChat"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model = settings.GIGACHAT_MODEL
        self.max_concurrency = settings.GIGACHAT_MAX_CONCURRENCY or 1

    @property
    def configured(self) -> bool:
        return self.settings.GIGACHAT_API_KEY is not None

    @cached_property
    def client(self) -> GigaChat:
        """One SDK client, so one cached OAuth token per process. The SDK has a single timeout for every
        network phase, and a non-streamed structured reply sends nothing until the whole document is ready,
        so it waits as long as the chain allows (plus a second, so the chain's own deadline is the one
        reported); streamed calls are cut much earlier by the chain's first-token and idle limits."""
        return self._build_client()

    @cached_property
    def _ssl_context(self) -> ssl.SSLContext | None:
        # One for every client of the service: loading the CA bundles costs a megabyte or so each time.
        return build_ssl_context(self.settings)

    def _build_client(self) -> GigaChat:
        key = self.settings.GIGACHAT_API_KEY
        if key is None:
            raise GigaChatError("GigaChat не настроен: задайте GIGACHAT_API_KEY в .env")
        context = self._ssl_context
        kwargs: dict[str, Any] = {}
        if context is None:
            kwargs["verify_ssl_certs"] = False
        else:
            kwargs["ssl_context"] = context
        timeout = max(self.settings.GIGACHAT_TIMEOUT, self.settings.LLM_STRUCTURED_TIMEOUT + 1)
        # A pool of 100 connections (httpx's default) would queue calls the limiter allows; room for every
        # allowed call, plus OAuth.
        limit = max(100, self.max_concurrency + 2)
        client = GigaChat(
            base_url=self.settings.GIGACHAT_BASE_URL,
            auth_url=self.settings.GIGACHAT_AUTH_URL,
            credentials=key.get_secret_value(),
            scope=self.settings.GIGACHAT_SCOPE.value,
            model=self.settings.GIGACHAT_MODEL,
            timeout=timeout,
            max_retries=0,
            max_connections=limit,
            **kwargs,
        )
        # The SDK builds its async httpx client on first use (gigachat 0.2.3: `_aclient_instance`); given one
        # here, its calls go through aiohttp instead of httpx's own transport (`_aiohttp_client`).
        client._aclient_instance = _aiohttp_client(self.settings.GIGACHAT_BASE_URL, context, limit, timeout)
        return client

    # --- the guide's blocking API -------------------------------------------------------------

    def get_access_token(self) -> str | None:
        """The current OAuth access token (reused until shortly before it expires), or None with the reason logged."""
        try:
            token = self.client.get_token()
        except GigaChatError as exc:
            logger.error("%s", exc)
            return None
        except Exception as exc:
            logger.error("GigaChat OAuth failed: %s", translate_error(exc).describe())
            return None
        return token.access_token if token else None

    def chat(self, messages: list[dict[str, str]], temperature: float = 0.7, max_tokens: int | None = None) -> str:
        payload = self._payload(messages, temperature, max_tokens or self.settings.LLM_MAX_TOKENS)
        try:
            response = self.client.chat(payload)
        except GigaChatError:
            raise
        except Exception as exc:
            raise GigaChatError(f"GigaChat: {translate_error(exc).describe()}") from None
        choice = response.choices[0]
        if choice.finish_reason == "blacklist":
            raise GigaChatError("GigaChat: ответ заблокирован цензором (finish_reason=blacklist)")
        if choice.finish_reason == "error":
            raise GigaChatError("GigaChat: модель завершила ответ с ошибкой (finish_reason=error)")
        return choice.message.content or ""

    # --- async API for the server --------------------------------------------------------------

    async def aget_access_token(self) -> str | None:
        try:
            token = await self.client.aget_token()
        except Exception as exc:
            logger.error("GigaChat OAuth failed: %s", translate_error(exc).describe())
            return None
        return token.access_token if token else None

    async def complete(
        self, messages: list[dict[str, str]], temperature: float = 0.7, max_tokens: int | None = None
    ) -> str:
        """A whole reply from GigaChat alone (no fallback); raises `ProviderError`."""
        request = LLMRequest(messages, temperature, max_tokens or self.settings.LLM_MAX_TOKENS)
        return await collect_text(self.stream(request))

    async def stream(self, request: LLMRequest) -> AsyncGenerator[ProviderEvent, None]:
        payload = self._payload(request.messages, request.temperature, request.max_tokens)
        finish_reason: str | None = None
        model: str | None = None
        usage: Any = None
        try:
            async for chunk in self.client.astream(payload):
                model = chunk.model or model
                usage = getattr(chunk, "usage", None) or usage
                for choice in chunk.choices:
                    if choice.delta.content:
                        yield Delta(choice.delta.content)
                    if choice.finish_reason:
                        finish_reason = choice.finish_reason
        except Exception as exc:
            raise translate_error(exc) from None
        finish = finish_event(finish_reason, model, usage)
        if finish is not None:  # without it the chain reports the stream as truncated
            yield finish

    async def complete_structured(self, request: LLMRequest, spec: StructuredSpec) -> StructuredReply:
        """A forced function call: GigaChat returns the document as `function_call.arguments`, a JSON object."""
        payload = self._payload(structured_messages(request, spec), request.temperature, request.max_tokens)
        # Passed through untyped: the SDK's `Function` model keeps only a few JSON-schema keywords and
        # would silently drop the `required` lists of nested objects.
        payload["additional_fields"] = {
            "functions": [{"name": spec.name, "description": spec.description, "parameters": spec.schema}],
            "function_call": {"name": spec.name},
        }
        try:
            response = await self.client.achat(payload)
        except Exception as exc:
            raise translate_error(exc) from None
        if not response.choices:
            raise ProviderError(ErrorKind.MALFORMED, "ответ без вариантов")
        choice = response.choices[0]
        call = choice.message.function_call
        data = call.arguments if call is not None and call.arguments is not None else choice.message.content
        return StructuredReply(
            data=data,
            finish_reason=choice.finish_reason,
            model=response.model,
            prompt_tokens=response.usage.prompt_tokens,
            completion_tokens=response.usage.completion_tokens,
        )

    async def balance(self) -> list[tuple[str, float]] | None:
        """What is left of the prepaid packages, as (usage, value) pairs, from GigaChat's balance API.

        None when the key is not prepaid (GigaChat answers 403); other failures raise a `ProviderError`.
        """
        try:
            result = await self.client.aget_balance()
        except gx.ResponseError as exc:
            if exc.status_code == 403:
                return None
            raise translate_error(exc) from exc
        except Exception as exc:
            raise translate_error(exc) from exc
        return [(entry.usage, entry.value) for entry in result.balance]

    async def embed(self, texts: list[str]) -> tuple[str, list[list[float]]]:
        """GigaChat Embeddings through the SDK: (model, one vector per text); raise `ProviderError`."""
        try:
            response = await self.client.aembeddings(texts, model=self.settings.GIGACHAT_EMBEDDINGS_MODEL)
        except Exception as exc:
            raise translate_error(exc) from None
        vectors = [item.embedding for item in sorted(response.data, key=lambda item: item.index)]
        if len(vectors) != len(texts):
            raise ProviderError(ErrorKind.MALFORMED, "число векторов не совпадает с числом текстов")
        return response.model or self.settings.GIGACHAT_EMBEDDINGS_MODEL, vectors

    async def aclose(self) -> None:
        if "client" in self.__dict__:
            await self.client.aclose()
            self.client.close()

    def _payload(self, messages: Sequence[Mapping[str, Any]], temperature: float, max_tokens: int) -> dict[str, Any]:
        return {
            "model": self.settings.GIGACHAT_MODEL,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
