"""The machine's real Redis for tests: a unique key prefix per test, and its keys removed afterwards.

Redis runs at 127.0.0.1:6379 on every machine of this kind (.ci/run starts it if not): without it the Redis
tests skip locally and fail in CI.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.utils.app import IN_CI

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class RedisForTest:
    url: str
    prefix: str
    client: Redis

    async def members(self, *parts: str) -> list[str]:
        """The members of one of this test's sorted sets (e.g. a provider's lease holders)."""
        return list(await self.client.zrange(":".join((self.prefix, *parts)), 0, -1))


@asynccontextmanager
async def redis_for_test() -> AsyncIterator[RedisForTest]:
    client: Redis = Redis.from_url(REDIS_URL, decode_responses=True, socket_timeout=5.0)
    try:
        await client.ping()
    except RedisError as exc:
        await client.aclose()
        if IN_CI:
            pytest.fail(f"Redis at {REDIS_URL} is unreachable: {exc}")
        pytest.skip(f"Redis unreachable: {exc}")
    prefix = f"nexus-test-{uuid.uuid4().hex[:12]}"
    try:
        yield RedisForTest(REDIS_URL, prefix, client)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
