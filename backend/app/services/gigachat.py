"""The guide's GigaChat entry points: `gigachat_service.get_access_token()` and
`get_gigachat_response(messages, temperature=…)` (blocking, for scripts). The provider itself lives in
`app.ai.providers.gigachat`; this module keeps the names the guide's snippets import."""

from __future__ import annotations

import threading
from typing import Any

from app.ai.providers.gigachat import GigaChatError, GigaChatService, build_ssl_context, translate_error
from app.core.config import get_settings

__all__ = [
    "GigaChatError",
    "GigaChatService",
    "build_ssl_context",
    "get_gigachat_response",
    "gigachat_service",
    "translate_error",
]


class _LazyService:
    """The guide's module-level `gigachat_service`, built from settings on first use."""

    _instance: GigaChatService | None = None
    _guard = threading.Lock()

    def _get(self) -> GigaChatService:
        with self._guard:
            if self._instance is None:
                self._instance = GigaChatService(get_settings())
            return self._instance

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


gigachat_service: GigaChatService = _LazyService()  # type: ignore[assignment]


def get_gigachat_response(
    messages: list[dict[str, str]], temperature: float = 0.7, max_tokens: int | None = None
) -> str:
    """The reply text from GigaChat (blocking), as in the guide. Raises `GigaChatError` with a readable reason."""
    return gigachat_service.chat(messages, temperature=temperature, max_tokens=max_tokens)
