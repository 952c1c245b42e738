"""The provider layer: GigaChat first, OpenRouter on fallback. No FastAPI here; nothing imports `app.services`
or `app.api`."""
