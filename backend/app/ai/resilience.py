"""Breaker, concurrency limit and timeouts: what keeps one provider's trouble from becoming everyone's.

Two flavours of the breaker and the limit. `CircuitBreaker` and `ConcurrencyLimiter` live in one process
(scripts, tests of the chain). `SharedBreaker` and `SharedLimiter` keep their state in the database, so every
worker and every instance of one deployment sees the same breaker and the same number of calls in flight:
a slot is a lease row with an expiry that its holder renews (a crashed holder frees it when the lease runs
out), taken under a PostgreSQL advisory lock, or SQLite's database write lock for workers on one machine.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import Integer, String, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.ai.errors import ErrorKind, ProviderError
from app.ai.types import Clock
from app.core.db import pg_driver
from app.core.sqlite_driver import Statements, in_one_trip
from app.models import ProviderBreaker, ProviderLease, UTCDateTime

logger = logging.getLogger("app.ai.resilience")

BreakerState = Literal["closed", "open", "half_open"]


class Breaker(Protocol):
    """What the chain asks of a breaker; `state` is the last state this process saw."""

    @property
    def state(self) -> BreakerState: ...

    async def allow(self) -> bool: ...

    async def record_success(self) -> None: ...

    async def record_failure(self) -> None: ...

    async def release(self) -> None: ...

    async def current_state(self) -> BreakerState: ...


class Limiter(Protocol):
    capacity: int

    def slot(self, background: bool = False) -> AbstractAsyncContextManager[float]:
        """Hold one of `capacity` slots for a call; yield the seconds spent waiting for it. A `background`
        call (a bulk job) lets every waiting chat go first."""
        ...

    async def aclose(self) -> None:
        """Give back whatever the limiter keeps between calls (the process is stopping)."""
        ...


class CircuitBreaker:
    """One process's breaker (tests, scripts): opens after `threshold` consecutive health failures; after
    `cooldown` lets one probe through."""

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

    async def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "open" or self._probe_in_flight:
            return False
        self._state = "half_open"
        self._probe_in_flight = True
        return True

    async def record_success(self) -> None:
        self._state = "closed"
        self._failures = 0
        self._probe_in_flight = False

    async def record_failure(self) -> None:
        self._probe_in_flight = False
        if self._state == "half_open":
            self._open()
            return
        self._failures += 1
        if self._failures >= self.threshold:
            self._open()

    async def release(self) -> None:
        """End an attempt that proved nothing either way (e.g. a rejected request)."""
        self._probe_in_flight = False

    async def current_state(self) -> BreakerState:
        return self.state

    def _open(self) -> None:
        self._state = "open"
        self._opened_at = self._clock()
        self._failures = 0


class ConcurrencyLimiter:
    """One process's limit: at most `capacity` calls in flight; up to `queue_size` more wait `queue_timeout`,
    the rest are refused. Chats first: a freed slot goes to the longest-waiting chat, and only when no chat
    waits to a bulk job (`background`, e.g. resume intake)."""

    def __init__(self, capacity: int, queue_size: int, queue_timeout: float) -> None:
        self.capacity = capacity
        self.queue_size = queue_size
        self.queue_timeout = queue_timeout
        self._free = capacity
        # Waiters by kind, oldest first; a freed slot is handed to one of them directly (never through _free),
        # so a newcomer cannot overtake a waiter.
        self._chats: deque[asyncio.Future[None]] = deque()
        self._bulk: deque[asyncio.Future[None]] = deque()
        self.in_flight = 0

    @property
    def waiting(self) -> int:
        return len(self._chats) + len(self._bulk)

    @asynccontextmanager
    async def slot(self, background: bool = False) -> AsyncIterator[float]:
        """Yield the seconds spent waiting for the slot."""
        started = time.monotonic()
        if self._free > 0:
            self._free -= 1
        else:
            await self._wait(self._bulk if background else self._chats)
        self.in_flight += 1
        try:
            yield time.monotonic() - started
        finally:
            self.in_flight -= 1
            self._hand_on()

    async def _wait(self, queue: deque[asyncio.Future[None]]) -> None:
        if self.waiting >= self.queue_size:
            raise ProviderError(ErrorKind.BUSY, "очередь запросов переполнена")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(future)
        handed = False
        try:
            async with asyncio.timeout(self.queue_timeout):
                await future
            handed = True
        except TimeoutError:
            raise ProviderError(ErrorKind.BUSY, f"ожидание дольше {self.queue_timeout:g} с") from None
        finally:
            if not handed:
                if future.done() and not future.cancelled():
                    self._hand_on()  # the slot came just as this waiter gave up: pass it on
                else:
                    future.cancel()
                    with suppress(ValueError):
                        queue.remove(future)

    async def aclose(self) -> None:
        return None  # nothing is kept between calls

    def _hand_on(self) -> None:
        """A slot is free: to the oldest waiting chat, else the oldest bulk job, else back to the pool."""
        for queue in (self._chats, self._bulk):
            while queue:
                future = queue.popleft()
                if not future.done():
                    future.set_result(None)
                    return
        self._free += 1


@dataclass(frozen=True)
class Timeouts:
    first_token: float
    idle: float
    total: float
    retry_after_budget: float
    structured: float = 120.0
    """The whole of one non-streamed structured answer."""
    retry_delay: float = 0.25
    """Base of the jittered pause before the one quick retry of a transient failure; 0 turns it off."""


def _wall() -> datetime:
    return datetime.now(UTC)


# One round trip each, with bound parameters: the functions of migrations 0013 and 0014 (why functions: see 0013).
_PG_TAKE = "SELECT nexus_take_provider_leases($1, $2, $3::text[], $4, $5, $6, $7)"
_PG_RELEASE = "SELECT nexus_release_provider_lease($1)"
_PG_RELEASE_MANY = "DELETE FROM provider_leases WHERE id = ANY($1::text[])"
_PG_RENEW = "UPDATE provider_leases SET expires_at = $1 WHERE id = ANY($2::text[])"

# SQLite's lease statements, built once (each trip only binds values; see `SharedLimiter._try_acquire`).
_SQLITE_EXPIRED = delete(ProviderLease).where(
    ProviderLease.provider == bindparam("provider"), ProviderLease.expires_at <= bindparam("now", type_=UTCDateTime())
)
_SQLITE_TAKE = (
    insert(ProviderLease)
    .from_select(
        ["id", "provider", "holder", "expires_at"],
        select(
            bindparam("lease", type_=String()),
            bindparam("provider", type_=String()),
            bindparam("holder", type_=String()),
            bindparam("expires_at", type_=UTCDateTime()),
        ).where(
            select(func.count())
            .select_from(ProviderLease)
            .where(ProviderLease.provider == bindparam("provider"), ProviderLease.expires_at > bindparam("now"))
            .scalar_subquery()
            < bindparam("capacity", type_=Integer())
        ),
    )
    .returning(ProviderLease.id)
)
_SQLITE_RELEASE = delete(ProviderLease).where(ProviderLease.id == bindparam("lease"))
_SQLITE_RENEW = (
    update(ProviderLease).where(ProviderLease.id == bindparam("lease")).values(expires_at=bindparam("expires_at"))
)


def _each(statement: Any, many: list[dict[str, Any]]) -> Callable[[Statements], None]:
    return lambda db: db.each(statement, many)


_PG_BREAKER = "SELECT failures, opened_at, probe_until FROM provider_breakers WHERE provider = $1"


@dataclass(frozen=True)
class _BreakerRow:
    failures: int
    opened_at: datetime | None
    probe_until: datetime | None


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


class SharedBreaker:
    """The breaker of one provider for the whole deployment: one row in `provider_breakers`.

    Closed: every call goes through, consecutive health failures are counted. Open: calls are skipped
    without a request until `cooldown` has passed; then one process claims the probe (for `probe_ttl` at
    most, so a prober that dies does not keep the provider shut). A success closes it, a failed probe opens
    it again. Reads are one indexed SELECT; transitions are one short transaction with the row locked.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        provider: str,
        threshold: int,
        cooldown: float,
        *,
        probe_ttl: float = 60.0,
        share_seconds: float = 0.0,
        clock: Callable[[], datetime] = _wall,
    ) -> None:
        self.session_factory = session_factory
        self.provider = provider
        self.share_seconds = share_seconds
        """A closed breaker read by `allow` is trusted this long without a new read, so a breaker opened through
        another instance is seen here within `share_seconds` (at once when it opens through this one)."""
        self._closed_until = 0.0
        self.threshold = threshold
        self.cooldown = timedelta(seconds=cooldown)
        self.probe_ttl = timedelta(seconds=probe_ttl)
        self._clock = clock
        bind = session_factory.kw.get("bind")
        assert isinstance(bind, AsyncEngine), "the session factory must be bound to an engine"
        self._engine: AsyncEngine = bind
        self._pg = bind.dialect.name == "postgresql"
        self._state: BreakerState = "closed"
        self._clean = True
        """The last read saw a closed breaker with no failures: a success needs no write."""

    @property
    def state(self) -> BreakerState:
        return self._state

    async def _read(self) -> _BreakerRow | None:
        if self._pg:
            async with pg_driver(self._engine) as driver:
                found = await driver.fetchrow(_PG_BREAKER, self.provider)
            return _BreakerRow(found["failures"], found["opened_at"], found["probe_until"]) if found else None
        async with self.session_factory() as session:
            row = await session.get(ProviderBreaker, self.provider)
            return _BreakerRow(row.failures, row.opened_at, row.probe_until) if row is not None else None

    def _view(self, row: ProviderBreaker | _BreakerRow | None, now: datetime) -> BreakerState:
        if row is None or row.opened_at is None:
            return "closed"
        if now - row.opened_at < self.cooldown:
            return "open"
        return "half_open"

    def _remember(self, row: ProviderBreaker | _BreakerRow | None, now: datetime) -> BreakerState:
        self._closed_until = 0.0
        self._state = self._view(row, now)
        self._clean = row is None or (row.opened_at is None and row.failures == 0 and row.probe_until is None)
        return self._state

    async def current_state(self) -> BreakerState:
        return self._remember(await self._read(), self._clock())

    async def allow(self) -> bool:
        if self._state == "closed" and time.monotonic() < self._closed_until:
            return True
        now = self._clock()
        row = await self._read()
        state = self._remember(row, now)
        if state == "closed":
            self._closed_until = time.monotonic() + self.share_seconds
            return True
        if state == "open" or (row is not None and row.probe_until is not None and row.probe_until > now):
            return False
        # Cooled down: claim the one probe, unless another process got there first.
        async with self.session_factory() as session, session.begin():
            claimed = await session.execute(
                update(ProviderBreaker)
                .where(
                    ProviderBreaker.provider == self.provider,
                    ProviderBreaker.opened_at <= now - self.cooldown,
                    (ProviderBreaker.probe_until.is_(None)) | (ProviderBreaker.probe_until <= now),
                )
                .values(probe_until=now + self.probe_ttl)
            )
        return bool(getattr(claimed, "rowcount", 0))

    async def record_success(self) -> None:
        if self._clean and self._state == "closed":
            return
        async with self.session_factory() as session, session.begin():
            await session.execute(
                update(ProviderBreaker)
                .where(ProviderBreaker.provider == self.provider)
                .values(failures=0, opened_at=None, probe_until=None)
            )
        self._state, self._clean, self._closed_until = "closed", True, 0.0

    async def record_failure(self) -> None:
        now = self._clock()
        async with self.session_factory() as session, session.begin():
            row = await self._locked(session)
            state = self._view(row, now)
            if state == "half_open":
                row.opened_at, row.probe_until, row.failures = now, None, 0  # the probe failed: open again
            elif state == "closed":
                row.failures += 1
                if row.failures >= self.threshold:
                    row.opened_at, row.failures = now, 0
                    logger.warning("%s breaker opened after %d failures", self.provider, self.threshold)
            await session.flush()
            self._remember(row, now)

    async def release(self) -> None:
        """End an attempt that proved nothing either way: a claimed probe is given back."""
        if self._state != "half_open":
            return
        async with self.session_factory() as session, session.begin():
            await session.execute(
                update(ProviderBreaker).where(ProviderBreaker.provider == self.provider).values(probe_until=None)
            )

    async def _locked(self, session: AsyncSession) -> ProviderBreaker:
        # The insert is SQLite's write lock too; on PostgreSQL the row lock is FOR UPDATE.
        await session.execute(
            _insert(session)(ProviderBreaker)
            .values(provider=self.provider, failures=0)
            .on_conflict_do_nothing(index_elements=["provider"])
        )
        row = await session.scalar(
            select(ProviderBreaker)
            .where(ProviderBreaker.provider == self.provider)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert row is not None
        return row


class SharedLimiter:
    """At most `capacity` calls in flight at one provider across every process that shares the database.

    In front of the shared count sits this process's own limit of the same capacity (so a busy worker does
    not poll the database for slots it could never get) and its bounded queue: up to `queue_size` calls wait
    up to `queue_timeout` in all, polling for a free lease every `poll_interval`; the rest are refused
    (`BUSY`), so the chain falls back instead of provoking a 429. The leases this process holds are renewed
    every third of `lease_ttl`; a holder that dies frees its slots when the leases run out.

    Leases are taken in batches: while one take is on its way to the database, the calls that come to need a
    slot wait for the next, which asks for as many slots as they are (a burst of 200 calls takes its slots in a
    few trips, not 200 trips each waiting its turn at the lock). A call given none polls again.

    A call that ends keeps its lease for the next call of this process for up to `linger` seconds instead of
    giving it back at once (two trips to the database saved per call under steady load), but only while this
    process keeps at most a quarter of `capacity` so: another process may find those slots taken for that
    long, never the rest. With a capacity under 4 (a personal GigaChat key has 1) every lease is given back
    when its call ends.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        provider: str,
        capacity: int,
        queue_size: int,
        queue_timeout: float,
        *,
        holder: str,
        lease_ttl: float = 30.0,
        poll_interval: float = 0.05,
        linger: float = 0.5,
        clock: Callable[[], datetime] = _wall,
    ) -> None:
        self.session_factory = session_factory
        self.provider = provider
        self.linger = linger
        self.spare_leases = capacity // 4
        # Leases this process holds: every one (renewed together), and those no call uses, oldest first, each
        # with the moment it was put there.
        self._leases: set[str] = set()
        self._spare: deque[tuple[str, float]] = deque()
        self._renewer: asyncio.Task[None] | None = None
        self._reaper: asyncio.Task[None] | None = None
        # The calls waiting for the next batched take (each gets a lease or None), and the task taking them.
        self._wanting: list[asyncio.Future[str | None]] = []
        self._taker: asyncio.Task[None] | None = None
        self.capacity = capacity
        self.queue_timeout = queue_timeout
        self.holder = holder
        self.lease_ttl = timedelta(seconds=lease_ttl)
        self.poll_interval = poll_interval
        self._clock = clock
        self._local = ConcurrencyLimiter(capacity, queue_size, queue_timeout)
        self._lock_key = zlib.crc32(f"nexus-ai:provider:{provider}".encode())
        bind = session_factory.kw.get("bind")
        assert isinstance(bind, AsyncEngine), "the session factory must be bound to an engine"
        self._engine: AsyncEngine = bind
        self._pg = bind.dialect.name == "postgresql"

    @property
    def in_flight(self) -> int:
        return self._local.in_flight

    @asynccontextmanager
    async def slot(self, background: bool = False) -> AsyncIterator[float]:
        started = time.monotonic()
        # Chats first within this process (the local queue); across processes the database count has no order.
        async with self._local.slot(background):
            lease = self._spare.pop()[0] if self._spare else await self._acquire(started + self.queue_timeout)
            self._leases.add(lease)
            if self._renewer is None or self._renewer.done():
                self._renewer = asyncio.create_task(self._renew(), name=f"leases-{self.provider}")
            try:
                yield time.monotonic() - started
            finally:
                if len(self._spare) < self.spare_leases:
                    self._spare.append((lease, time.monotonic()))
                    if self._reaper is None or self._reaper.done():
                        self._reaper = asyncio.create_task(self._reap(), name=f"spare-leases-{self.provider}")
                else:
                    self._leases.discard(lease)
                    await asyncio.shield(self._release([lease]))

    async def aclose(self) -> None:
        """Give back the spare leases (a stopping process would otherwise keep their slots until they run out)."""
        for task in (self._taker, self._reaper, self._renewer):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        spare = [lease for lease, _ in self._spare]
        self._spare.clear()
        self._leases.difference_update(spare)
        if spare:
            await self._release(spare)

    async def held(self) -> int:
        """Unexpired leases at this provider, from every process."""
        async with self.session_factory() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(ProviderLease)
                .where(ProviderLease.provider == self.provider, ProviderLease.expires_at > self._clock())
            )
        return int(count or 0)

    async def _acquire(self, deadline: float) -> str:
        while True:
            lease = await self._try_acquire()
            if lease is not None:
                return lease
            if time.monotonic() + self.poll_interval > deadline:
                raise ProviderError(ErrorKind.BUSY, f"ожидание дольше {self.queue_timeout:g} с")
            await asyncio.sleep(self.poll_interval)

    async def _try_acquire(self) -> str | None:
        """A free slot as this call's lease, or None when all are held: from the next batched take."""
        wanted: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._wanting.append(wanted)
        if self._taker is None or self._taker.done():
            self._taker = asyncio.create_task(self._take_batches(), name=f"take-leases-{self.provider}")
        try:
            return await wanted
        except asyncio.CancelledError:
            # Cancelled after its lease was taken (the result set, the wake-up not yet run): give it back.
            if wanted.done() and not wanted.cancelled() and wanted.exception() is None:
                lease = wanted.result()
                if lease is not None:
                    await asyncio.shield(self._release([lease]))
            raise

    async def _take_batches(self) -> None:
        """One take at a time for all the calls waiting when it starts; ends when none is left waiting. A call
        cancelled while its batch was on the way has its lease given back."""
        batch: list[asyncio.Future[str | None]] = []
        try:
            while self._wanting:
                batch = [wanted for wanted in self._wanting if not wanted.done()]
                self._wanting.clear()
                if not batch:
                    continue
                leases = [str(uuid.uuid4()) for _ in batch]
                try:
                    taken = await self._take(leases)
                except Exception as exc:  # each call sees the failure as its own take's
                    for wanted in batch:
                        if not wanted.done():
                            wanted.set_exception(exc)
                    continue
                unused: list[str] = []
                for i, wanted in enumerate(batch):
                    lease = leases[i] if i < taken else None
                    if not wanted.done():
                        wanted.set_result(lease)
                    elif lease is not None:
                        unused.append(lease)
                if unused:
                    await self._release(unused)
        finally:
            # Stopped by `aclose`: the calls not yet answered fail as refused, instead of waiting for ever.
            for wanted in (*batch, *self._wanting):
                if not wanted.done():
                    wanted.set_exception(ProviderError(ErrorKind.BUSY, "приложение останавливается"))
            self._wanting.clear()

    async def _take(self, leases: list[str]) -> int:
        """One short transaction: as many of `leases` as there are free slots, in order; how many were taken."""
        now = self._clock()
        if self._pg:
            async with pg_driver(self._engine) as driver:
                taken = await driver.fetchval(
                    _PG_TAKE,
                    self.provider,
                    self.holder,
                    leases,
                    now,
                    now + self.lease_ttl,
                    self.capacity,
                    self._lock_key,
                )
            return int(taken)
        # SQLite: the statements and the COMMIT in one trip to the connection's thread. The first write takes
        # the database's write lock, which serialises the counts too; it also clears the leases of holders that
        # died, so their slots come free.
        expired = {"provider": self.provider, "now": now}
        fresh = {"provider": self.provider, "holder": self.holder, "now": now}
        fresh |= {"expires_at": now + self.lease_ttl, "capacity": self.capacity}

        def take(db: Statements) -> int:
            db.all(_SQLITE_EXPIRED, expired)
            for count, lease in enumerate(leases):
                if db.scalar(_SQLITE_TAKE, fresh | {"lease": lease}) is None:
                    return count
            return len(leases)

        async with self._engine.connect() as conn:
            return await in_one_trip(conn, take)

    async def _renew(self) -> None:
        """Every third of the lease's lifetime, all leases this process holds, in one trip; ends with the last."""
        interval = self.lease_ttl.total_seconds() / 3
        while self._leases:
            await asyncio.sleep(interval)
            leases = list(self._leases)
            if not leases:
                return
            expires_at = self._clock() + self.lease_ttl
            try:
                if self._pg:
                    async with pg_driver(self._engine) as driver:
                        await driver.execute(_PG_RENEW, expires_at, leases)
                else:
                    async with self._engine.connect() as conn:
                        renewals = [{"lease": lease, "expires_at": expires_at} for lease in leases]
                        await in_one_trip(conn, _each(_SQLITE_RENEW, renewals))
            except Exception as exc:  # the next renewal may succeed; the calls themselves go on
                logger.warning("could not renew %s leases: %s", self.provider, type(exc).__name__)

    async def _reap(self) -> None:
        """Give back the spare leases no call has taken within `linger`, oldest first; ends with the last."""
        while self._spare:
            wait = self._spare[0][1] + self.linger - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            now = time.monotonic()
            stale: list[str] = []
            while self._spare and self._spare[0][1] + self.linger <= now:
                stale.append(self._spare.popleft()[0])
            self._leases.difference_update(stale)
            await self._release(stale)

    async def _release(self, leases: list[str]) -> None:
        try:
            if self._pg:
                async with pg_driver(self._engine) as driver:
                    if len(leases) == 1:
                        await driver.execute(_PG_RELEASE, leases[0])
                    else:
                        await driver.execute(_PG_RELEASE_MANY, leases)
                return
            async with self._engine.connect() as conn:
                await in_one_trip(conn, _each(_SQLITE_RELEASE, [{"lease": lease} for lease in leases]))
        except Exception as exc:  # the leases run out by themselves
            logger.warning("could not release %s leases: %s", self.provider, type(exc).__name__)
