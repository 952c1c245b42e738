"""Calls to one provider service alone (no chain), for tests of how its failures are reported."""

from __future__ import annotations

import pytest

from app.ai.errors import ProviderError
from app.ai.providers.gigachat import GigaChatService
from app.core.config import Settings


async def gigachat_failure(settings: Settings, messages: list[dict[str, str]]) -> ProviderError:
    """The classified error of one GigaChat call with `settings` (it must fail); the service closed after."""
    service = GigaChatService(settings)
    try:
        with pytest.raises(ProviderError) as caught:
            await service.complete(messages)
    finally:
        await service.aclose()
    return caught.value
