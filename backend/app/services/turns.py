"""Crash-safe turns: every pending question is owned by one process under a lease that the process renews
while it answers; a sweeper in every instance fails a pending question whose lease ran out (its process
died), with a reason the page shows beside «Повторить».

The lease is written in the same transaction that makes the question durable, so no pending question is
ever without one; the answer or the failure clears it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.models import ChatMessage, MessageStatus, Role, utcnow

logger = logging.getLogger("app.turns")

INTERRUPTED = (
    "Ответ не был получен: сервер, который его готовил, перестал работать. Сообщение сохранено — нажмите «Повторить»."
)


def instance_id() -> str:
    """This process among every instance and worker of the deployment."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class TurnLeases:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], settings: Settings, owner: str) -> None:
        self.session_factory = session_factory
        self.owner = owner
        self.ttl = timedelta(seconds=settings.TURN_LEASE_SECONDS)
        self.sweep_interval = settings.TURN_SWEEP_INTERVAL
        self._running: set[int] = set()

    def lease(self) -> tuple[str, datetime]:
        """The owner and expiry a question taken now is stored with (written by the INSERT that stores it)."""
        return self.owner, utcnow() + self.ttl

    def claim(self, question: ChatMessage) -> None:
        """Make this process the owner of a pending question; flushed and committed with it."""
        question.lease_owner, question.lease_expires_at = self.lease()

    @staticmethod
    def clear(question: ChatMessage) -> None:
        question.lease_owner = None
        question.lease_expires_at = None

    @contextmanager
    def working(self, question_id: int) -> Iterator[None]:
        """Keep renewing the question's lease while the block runs."""
        self._running.add(question_id)
        try:
            yield
        finally:
            self._running.discard(question_id)

    async def renew(self) -> None:
        if not self._running:
            return
        async with self.session_factory() as session, session.begin():
            await session.execute(
                update(ChatMessage)
                .where(
                    ChatMessage.id.in_(sorted(self._running)),
                    ChatMessage.lease_owner == self.owner,
                    ChatMessage.status == MessageStatus.PENDING,
                )
                .values(lease_expires_at=utcnow() + self.ttl)
            )

    async def sweep(self) -> int:
        """Fail every pending question whose owner stopped renewing its lease; return how many."""
        now = utcnow()
        async with self.session_factory() as session, session.begin():
            result = await session.execute(
                update(ChatMessage)
                .where(
                    ChatMessage.status == MessageStatus.PENDING,
                    ChatMessage.role == Role.USER.value,
                    # Rows from before leases existed have none: they count from their creation.
                    (ChatMessage.lease_expires_at < now)
                    | (ChatMessage.lease_expires_at.is_(None) & (ChatMessage.created_at < now - self.ttl)),
                )
                .values(status=MessageStatus.FAILED, error=INTERRUPTED, lease_owner=None, lease_expires_at=None)
            )
        swept = int(getattr(result, "rowcount", 0) or 0)
        if swept:
            logger.warning("failed %d chat turns whose process stopped answering", swept)
        return swept

    async def run(self) -> None:
        """Renew this process's leases every third of their lifetime and sweep every `sweep_interval`."""
        renew_every = self.ttl.total_seconds() / 3
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()
        while True:
            try:
                await self.renew()
                if loop.time() >= next_sweep:
                    next_sweep = loop.time() + self.sweep_interval
                    await self.sweep()
            except Exception as exc:  # a database hiccup (or one not migrated yet) must not end the loop
                logger.warning("turn lease upkeep failed: %s", type(exc).__name__)
            await asyncio.sleep(min(renew_every, max(0.0, next_sweep - loop.time())) or 0.05)
