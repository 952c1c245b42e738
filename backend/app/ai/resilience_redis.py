"""The shared breaker and concurrency limit kept in Redis (when `REDIS_URL` is set) instead of the database.

Same contracts as `SharedBreaker` / `SharedLimiter` in `app.ai.resilience`, with every transition one Lua
script (atomic on the server, timed by the server's clock, so the processes' clocks do not matter):

- a slot is a member of a sorted set of holders scored by its lease's expiry; taken only while fewer than
  `capacity` unexpired members exist, renewed every third of the lease while the call runs, removed on finish;
  a holder that crashes frees its slot when the lease runs out;
- the wait queue is shared too: a waiter is a member of a second sorted set, so at most `queue_size` calls
  wait across every process; a release pushes a wake-up onto a per-provider list that waiters block on
  (BLPOP), with a bounded poll as the fallback (an expired lease wakes nobody);
- chats first: a waiting chat is also a member of a third set, and a bulk job (`background`, e.g. resume
  intake in a worker process) takes no slot while that set is not empty, in whichever process the chat waits;
- the breaker is one hash: failures, opened_at, probe_until.

Redis unreachable at call time: a warning (once per outage) and the fallback limiter/breaker (the database
ones in the app) take over; Redis is tried again after `retry_after` seconds. Nothing waits on a dead Redis
longer than its socket timeouts.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.ai.errors import ErrorKind, ProviderError
from app.ai.resilience import Breaker, BreakerState, Limiter

logger = logging.getLogger("app.ai.resilience")

_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "

_ACQUIRE = (
    _NOW
    + """
-- KEYS: holders, waiting, chats waiting. ARGV: lease, capacity, lease_ms, queue_size, waiter, wait_until_ms
-- (relative), background ('1': a bulk job, which takes no slot while a chat waits for one)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local ttl = tonumber(ARGV[3])
local background = ARGV[7] == '1'
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) and not (background and redis.call('ZCARD', KEYS[3]) > 0) then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
  redis.call('ZREM', KEYS[2], ARGV[5])
  redis.call('ZREM', KEYS[3], ARGV[5])
  return 1
end
if redis.call('ZSCORE', KEYS[2], ARGV[5]) then
  return 0
end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  return -1
end
local until_ms = now + tonumber(ARGV[6])
redis.call('ZADD', KEYS[2], until_ms, ARGV[5])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[6]) * 2)
if not background then
  redis.call('ZADD', KEYS[3], until_ms, ARGV[5])
  redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[6]) * 2)
end
return 0
"""
)
"""1: the slot is this call's; 0: queued (or still queued), wait for a wake-up; -1: the shared queue is full."""

_RENEW = (
    _NOW
    + """
-- KEYS: holders. ARGV: lease, lease_ms
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
  return 1
end
return 0
"""
)

_RELEASE = (
    _NOW
    + """
-- KEYS: holders, waiting, chats waiting, wake. ARGV: lease (or ''), waiter (or '')
local freed = 0
if ARGV[1] ~= '' then freed = redis.call('ZREM', KEYS[1], ARGV[1]) end
if ARGV[2] ~= '' then
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('ZREM', KEYS[3], ARGV[2])
end
if freed == 1 then
  -- Wake every waiter, not one: a bulk job woken first would find a chat waiting and leave the slot to it.
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  local missing = redis.call('ZCARD', KEYS[2]) - redis.call('LLEN', KEYS[4])
  for _ = 1, missing do redis.call('RPUSH', KEYS[4], '1') end
  if missing > 0 then redis.call('PEXPIRE', KEYS[4], 60000) end
end
return freed
"""
)

_BREAKER_VIEW = (
    _NOW
    + """
local h = redis.call('HMGET', KEYS[1], 'failures', 'opened_at', 'probe_until')
local failures = tonumber(h[1]) or 0
local opened = tonumber(h[2])
local probe = tonumber(h[3])
local cooldown = tonumber(ARGV[1])
local state = 'closed'
if opened then
  if now - opened < cooldown then state = 'open' else state = 'half_open' end
end
"""
)

_ALLOW = (
    _BREAKER_VIEW
    + """
-- KEYS: breaker. ARGV: cooldown_ms, probe_ms, claim (1 = claim the probe when cooled down)
if state == 'closed' then
  if failures == 0 and not probe then return {1, state, 1} end
  return {1, state, 0}
end
if state == 'open' or ARGV[3] ~= '1' or (probe and probe > now) then return {0, state, 0} end
redis.call('HSET', KEYS[1], 'probe_until', now + tonumber(ARGV[2]))
return {1, state, 0}
"""
)
"""{allowed, state, clean}: clean = closed with nothing counted, so a success needs no write."""

_FAILURE = (
    _BREAKER_VIEW
    + """
-- KEYS: breaker. ARGV: cooldown_ms, threshold
if state == 'half_open' then
  redis.call('HSET', KEYS[1], 'opened_at', now, 'failures', 0)
  redis.call('HDEL', KEYS[1], 'probe_until')
  return 'open'
end
if state == 'closed' then
  local n = redis.call('HINCRBY', KEYS[1], 'failures', 1)
  if n >= tonumber(ARGV[2]) then
    redis.call('HSET', KEYS[1], 'opened_at', now, 'failures', 0)
    return 'opened'
  end
  return 'closed'
end
return 'open'
"""
)
"""'opened' when this failure opened the breaker (it is logged once, by the process that did it)."""


class RedisBackend:
    """One process's connection to the deployment's Redis: the client, the key prefix, the scripts, and
    whether Redis answered lately (after a failure, calls go straight to the fallback for `retry_after` s)."""

    def __init__(self, url: str, prefix: str, *, timeout: float = 1.0, retry_after: float = 5.0) -> None:
        self.prefix = prefix
        self.timeout = timeout
        self.retry_after = retry_after
        self.client: Redis = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )
        self.acquire = self.client.register_script(_ACQUIRE)
        self.renew = self.client.register_script(_RENEW)
        self.release = self.client.register_script(_RELEASE)
        self.allow = self.client.register_script(_ALLOW)
        self.failure = self.client.register_script(_FAILURE)
        self._down_until = 0.0

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @property
    def available(self) -> bool:
        """False for a while after Redis failed: the fallback is used without another connection attempt."""
        return time.monotonic() >= self._down_until

    def failed(self, exc: BaseException, what: str) -> None:
        if self.available:
            # The URL may carry a password: only the error's class and Redis's own words are logged.
            logger.warning(
                "Redis unreachable (%s: %s) during %s: using the database-backed limiter and breaker "
                "for %g s, then trying Redis again",
                type(exc).__name__,
                str(exc)[:200],
                what,
                self.retry_after,
            )
        self._down_until = time.monotonic() + self.retry_after

    def succeeded(self) -> None:
        if self._down_until:
            self._down_until = 0.0
            logger.warning("Redis reachable again: the shared limiter and breaker are back in Redis")

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except RedisError:
            return False

    async def aclose(self) -> None:
        await self.client.aclose()


class RedisBreaker:
    """`SharedBreaker`'s behaviour with its state in a Redis hash; `fallback` answers while Redis is down."""

    def __init__(
        self,
        backend: RedisBackend,
        provider: str,
        threshold: int,
        cooldown: float,
        *,
        fallback: Breaker,
        probe_ttl: float = 60.0,
    ) -> None:
        self.backend = backend
        self.provider = provider
        self.threshold = threshold
        self.cooldown_ms = round(cooldown * 1000)
        self.probe_ms = round(probe_ttl * 1000)
        self.fallback = fallback
        self._key = backend.key("breaker", provider)
        self._state: BreakerState = "closed"
        self._clean = True
        self._delegated = False
        """The last call went to the fallback: release/success go there too."""

    @property
    def state(self) -> BreakerState:
        return self.fallback.state if self._delegated else self._state

    async def _run(self, script: Any, *args: Any) -> Any:
        """The script's answer, or None when Redis is down (the caller uses the fallback)."""
        if not self.backend.available:
            return None
        try:
            result = await script(keys=[self._key], args=list(args))
        except RedisError as exc:
            self.backend.failed(exc, f"the {self.provider} breaker")
            return None
        self.backend.succeeded()
        return result

    async def _view(self, claim: bool) -> bool | None:
        found = await self._run(self.backend.allow, self.cooldown_ms, self.probe_ms, 1 if claim else 0)
        if found is None:
            return None
        allowed, state, clean = found
        self._state, self._clean, self._delegated = state, bool(clean), False
        return bool(allowed)

    async def allow(self) -> bool:
        allowed = await self._view(claim=True)
        if allowed is None:
            self._delegated = True
            return await self.fallback.allow()
        return allowed

    async def current_state(self) -> BreakerState:
        if await self._view(claim=False) is None:
            self._delegated = True
            return await self.fallback.current_state()
        return self._state

    async def record_success(self) -> None:
        if self._delegated:
            await self.fallback.record_success()
            return
        if self._clean and self._state == "closed":
            return
        if not self.backend.available:
            return
        try:
            await self.backend.client.delete(self._key)
        except RedisError as exc:
            self.backend.failed(exc, f"the {self.provider} breaker")
            return
        self._state, self._clean = "closed", True

    async def record_failure(self) -> None:
        if self._delegated:
            await self.fallback.record_failure()
            return
        outcome = await self._run(self.backend.failure, self.cooldown_ms, self.threshold)
        if outcome is None:
            return
        if outcome == "opened":
            logger.warning("%s breaker opened after %d failures", self.provider, self.threshold)
        self._state = "closed" if outcome == "closed" else "open"
        self._clean = False

    async def release(self) -> None:
        """A claimed probe that proved nothing is given back."""
        if self._delegated:
            await self.fallback.release()
            return
        if self._state != "half_open" or not self.backend.available:
            return
        try:
            await self.backend.client.hdel(self._key, "probe_until")
        except RedisError as exc:
            self.backend.failed(exc, f"the {self.provider} breaker")


class RedisLimiter:
    """At most `capacity` calls in flight at one provider, and at most `queue_size` waiting for it, across
    every process that shares the Redis; `fallback` (the database limiter) takes over while Redis is down."""

    def __init__(
        self,
        backend: RedisBackend,
        provider: str,
        capacity: int,
        queue_size: int,
        queue_timeout: float,
        *,
        holder: str,
        fallback: Limiter,
        lease_ttl: float = 30.0,
        poll_interval: float = 0.5,
    ) -> None:
        self.backend = backend
        self.provider = provider
        self.capacity = capacity
        self.queue_size = queue_size
        self.queue_timeout = queue_timeout
        self.holder = holder
        self.fallback = fallback
        self.lease_ms = max(1, round(lease_ttl * 1000))
        # A blocking pop must come back well inside the socket timeout, or it would read as a dead Redis.
        self.poll_interval = min(poll_interval, backend.timeout / 2)
        self._keys = [
            backend.key("limiter", provider, "holders"),
            backend.key("limiter", provider, "waiting"),
            backend.key("limiter", provider, "chats-waiting"),
        ]
        self._wake = backend.key("limiter", provider, "wake")
        self.in_flight = 0

    async def aclose(self) -> None:
        await self.fallback.aclose()

    @asynccontextmanager
    async def slot(self, background: bool = False) -> AsyncIterator[float]:
        started = time.monotonic()
        lease: str | None = None
        if self.backend.available:
            try:
                lease = await self._acquire(started + self.queue_timeout, background)
            except RedisError as exc:
                self.backend.failed(exc, f"a {self.provider} slot")
        if lease is None:
            async with self.fallback.slot(background):
                yield time.monotonic() - started
            return
        self.in_flight += 1
        renewer = asyncio.create_task(self._renew(lease), name=f"redis-lease-{self.provider}")
        try:
            yield time.monotonic() - started
        finally:
            self.in_flight -= 1
            renewer.cancel()
            with suppress(asyncio.CancelledError):
                await renewer
            await asyncio.shield(self._release(lease, ""))

    async def held(self) -> int:
        """Unexpired leases at this provider, from every process."""
        seconds, micros = await self.backend.client.time()
        now_ms = seconds * 1000 + micros // 1000
        return int(await self.backend.client.zcount(self._keys[0], f"({now_ms}", "+inf"))

    async def _acquire(self, deadline: float, background: bool) -> str:
        lease = f"{self.holder}:{uuid.uuid4().hex}"
        waiter = f"{self.holder}:{uuid.uuid4().hex}"
        # A waiter whose process dies leaves the shared queue when its own deadline has passed.
        wait_ms = round(self.queue_timeout * 1000) + 1000
        args: list[str | int] = [
            lease,
            self.capacity,
            self.lease_ms,
            self.queue_size,
            waiter,
            wait_ms,
            int(background),
        ]
        taken = False
        try:
            while True:
                result = int(await self.backend.acquire(keys=self._keys, args=args))
                self.backend.succeeded()
                if result == 1:
                    taken = True
                    return lease
                if result == -1:
                    raise ProviderError(ErrorKind.BUSY, "очередь запросов переполнена")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ProviderError(ErrorKind.BUSY, f"ожидание дольше {self.queue_timeout:g} с")
                # Woken by a release; the bounded timeout covers slots freed by an expired lease.
                await self.backend.client.blpop([self._wake], timeout=max(0.01, min(self.poll_interval, left)))
        finally:
            if not taken:
                # Leave the queue; a lease taken on the server whose answer was lost (cancelled) goes too.
                await asyncio.shield(self._release(lease, waiter))

    async def _renew(self, lease: str) -> None:
        interval = self.lease_ms / 3000
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self.backend.renew(keys=self._keys[:1], args=[lease, self.lease_ms]):
                    logger.warning("a %s lease in Redis ran out before its call ended", self.provider)
                    return
            except RedisError as exc:  # the next renewal may succeed; the call itself goes on
                logger.warning("could not renew a %s lease in Redis: %s", self.provider, type(exc).__name__)

    async def _release(self, lease: str, waiter: str) -> None:
        try:
            await self.backend.release(keys=[*self._keys, self._wake], args=[lease, waiter])
        except RedisError as exc:  # the lease runs out by itself
            logger.warning("could not release a %s lease in Redis: %s", self.provider, type(exc).__name__)
