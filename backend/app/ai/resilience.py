"""Breaker, concurrency limit and timeouts: what keeps one provider's trouble from becoming everyone's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

from app.ai.errors import ErrorKind, ProviderError
from app.ai.types import Clock

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Opens after `threshold` consecutive health failures; after `cooldown` lets one probe through."""

    def __init__(self, threshold: int, cooldown: float, clock: Clock = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._state == "open" and self._clock() - self._opened_at >= self.cooldown:
            return "half_open"
        return self._state

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "open" or self._probe_in_flight:
            return False
        self._state = "half_open"
        self._probe_in_flight = True
        return True

    def record_success(self) -> None:
        self._state = "closed"
        self._failures = 0
        self._probe_in_flight = False

    def record_failure(self) -> None:
        self._probe_in_flight = False
        if self._state == "half_open":
            self._open()
            return
        self._failures += 1
        if self._failures >= self.threshold:
            self._open()

    def release(self) -> None:
        """End an attempt that proved nothing either way (e.g. a rejected request)."""
        self._probe_in_flight = False

    def _open(self) -> None:
        self._state = "open"
        self._opened_at = self._clock()
        self._failures = 0


class ConcurrencyLimiter:
    """At most `capacity` calls in flight; up to `queue_size` more wait `queue_timeout`, the rest are refused."""

    def __init__(self, capacity: int, queue_size: int, queue_timeout: float) -> None:
        self.capacity = capacity
        self.queue_size = queue_size
        self.queue_timeout = queue_timeout
        self._semaphore = asyncio.Semaphore(capacity)
        self._waiting = 0
        self.in_flight = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Yield the seconds spent waiting for the slot."""
        started = time.monotonic()
        if self._semaphore.locked():
            if self._waiting >= self.queue_size:
                raise ProviderError(ErrorKind.BUSY, "очередь запросов переполнена")
            self._waiting += 1
            try:
                async with asyncio.timeout(self.queue_timeout):
                    await self._semaphore.acquire()
            except TimeoutError:
                raise ProviderError(ErrorKind.BUSY, f"ожидание дольше {self.queue_timeout:g} с") from None
            finally:
                self._waiting -= 1
        else:
            await self._semaphore.acquire()
        self.in_flight += 1
        try:
            yield time.monotonic() - started
        finally:
            self.in_flight -= 1
            self._semaphore.release()


@dataclass(frozen=True)
class Timeouts:
    first_token: float
    idle: float
    total: float
    retry_after_budget: float
    structured: float = 120.0
    """The whole of one non-streamed structured answer."""
