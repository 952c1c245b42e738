"""Entry point of intake worker processes (Redis mode): `taskiq worker app.worker:broker`, which is what
`nexus-ai worker` runs."""

from __future__ import annotations

from app.cli import secrets_of
from app.core.config import get_settings
from app.core.logging import configure_logging
from app.services.intake_queue import worker_broker

settings = get_settings()
configure_logging(settings.LOG_LEVEL, secrets_of(settings), settings.LOG_FORMAT)
broker = worker_broker(settings)
