"""The intake queue on taskiq: in the app process by default, a Redis stream with worker processes when
REDIS_URL is set.

Why taskiq: it is asyncio-native (our whole stack is), has an in-memory broker that runs tasks inside the app
(the embedded default needs no extra service) and a maintained Redis stream broker with acknowledgements (a
message whose worker died is delivered again), with a worker CLI that runs several processes. The queue only
carries job ids: the job's state lives in the database, so whichever broker is used, a restart loses nothing
(every start re-enqueues what is still queued or lost its lease, and each Redis worker re-enqueues, every half
lease, the jobs of a worker that died) and a message delivered twice is harmless (a job is claimed atomically).

Chat comes first: each process parses at most INTAKE_CONCURRENCY resumes at once, so the provider's
concurrency slots stay free for the recruiters' chat; the jobs go through the same chain, so the GigaChat
concurrency limit, breaker and daily quota hold for them too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq import AsyncBroker, Context, InMemoryBroker, TaskiqDepends, TaskiqEvents, TaskiqState

from app.ai.chain import ProviderChain
from app.core.config import Settings
from app.services import intake

logger = logging.getLogger("app.intake_queue")

TASK_NAME = "nexus.intake.parse"


async def _parse(job_id: int, context: Annotated[Context, TaskiqDepends()]) -> None:
    state = context.state
    if state.stopping:
        return  # delivered while the app stops: the job stays queued for the next start
    task = asyncio.current_task()
    assert task is not None
    state.intake_tasks.add(task)
    try:
        async with state.intake_slots:
            if state.stopping:
                return
            state.intake_active.add(job_id)
            try:
                await intake.process(state.session_factory, state.settings, state.chain, job_id)
            finally:
                state.intake_active.discard(job_id)
    finally:
        state.intake_tasks.discard(task)


def make_broker(settings: Settings) -> AsyncBroker:
    broker: AsyncBroker
    if settings.REDIS_URL:
        # Imported only here: a deployment without Redis does not load the Redis broker (~7 MB of memory).
        from taskiq_redis import RedisStreamBroker

        broker = RedisStreamBroker(
            settings.REDIS_URL.get_secret_value(),
            queue_name=settings.INTAKE_QUEUE_NAME,
            consumer_group_name=f"{settings.INTAKE_QUEUE_NAME}-workers",
            idle_timeout=int(settings.INTAKE_LEASE_SECONDS * 1000),
            # One message at a time per worker: a worker busy with a resume leaves the next to an idle one.
            xread_count=1,
            # The lock around reclaiming unacknowledged messages must expire, or a worker killed while holding
            # it would stop every other worker.
            unacknowledged_lock_timeout=10.0,
        )
    else:
        broker = InMemoryBroker(max_async_tasks=settings.INTAKE_CONCURRENCY)
    broker.register_task(_parse, task_name=TASK_NAME)
    return broker


def _provide(
    state: TaskiqState,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    chain: ProviderChain,
) -> None:
    state.settings = settings
    state.session_factory = session_factory
    state.chain = chain
    state.intake_slots = asyncio.Semaphore(settings.INTAKE_CONCURRENCY)
    state.intake_active = set()
    state.intake_tasks = set()
    state.stopping = False


class IntakeQueue:
    """What the app holds: enqueue jobs, and on start re-enqueue the ones a restart left behind."""

    def __init__(
        self, settings: Settings, session_factory: async_sessionmaker[AsyncSession], chain: ProviderChain
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.broker = make_broker(settings)
        _provide(self.broker.state, settings, session_factory, chain)

    @property
    def in_process(self) -> bool:
        return isinstance(self.broker, InMemoryBroker)

    async def start(self) -> None:
        await self.broker.startup()
        if not self.in_process:
            return  # with Redis the workers own recovery (`nexus-ai worker` does it on its start)
        try:
            pending = await intake.pending_job_ids(self.session_factory)
        except Exception as exc:  # a database that is not migrated yet must not stop the app from starting
            logger.warning("could not check for unfinished intake jobs: %s", type(exc).__name__)
            return
        await self.enqueue(pending)

    async def enqueue(self, job_ids: list[int]) -> None:
        task = self.broker.find_task(TASK_NAME)
        assert task is not None
        for job_id in job_ids:
            await task.kiq(job_id)

    async def stop(self) -> None:
        """Stop parsing and give the jobs this process had taken back to the queue, so the next start takes them
        at once instead of after their lease. The in-memory broker does not cancel its tasks on shutdown; left
        running, they would outlive the app (and claim jobs for a process that is gone)."""
        state = self.broker.state
        state.stopping = True
        active = sorted(state.intake_active)
        tasks = list(state.intake_tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if active:
            await intake.release(self.session_factory, active)
        await self.broker.shutdown()


async def _sweep(broker: AsyncBroker, settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> None:
    """Re-enqueue, every half lease, the jobs of workers that died while parsing.

    Why not leave it to the stream: taskiq-redis reclaims a dead consumer's unacknowledged message only after its
    next read returned new messages, so with nothing new arriving a killed worker's job would wait forever (and a
    reclaim that comes a moment before the lease ends is refused by the claim and acknowledged). The database
    knows which leases ran out; several workers sweeping at once only send duplicate messages, and the atomic
    claim lets exactly one of them run the job.
    """
    task = broker.find_task(TASK_NAME)
    assert task is not None
    interval = max(1.0, min(settings.INTAKE_LEASE_SECONDS / 2, 30.0))
    while True:
        await asyncio.sleep(interval)
        try:
            expired = await intake.expired_job_ids(session_factory)
            for job_id in expired:
                await task.kiq(job_id)
        except Exception as exc:  # a database or Redis hiccup: try again on the next round
            logger.warning("intake sweep failed: %s", type(exc).__name__)
            continue
        if expired:
            logger.info("re-enqueued %d intake jobs whose worker stopped", len(expired))


def worker_broker(settings: Settings) -> AsyncBroker:
    """The broker a `taskiq worker` process imports: it builds its own engine and chain on start and
    re-enqueues the jobs a restart left behind."""
    from app.ai.factory import build_chain
    from app.ai.telemetry import Metrics, Telemetry
    from app.core.db import create_engine, create_session_factory

    broker = make_broker(settings)
    resources: dict[str, Any] = {}

    async def startup(state: TaskiqState) -> None:
        from taskiq_redis import RedisStreamBroker

        if isinstance(broker, RedisStreamBroker):
            # The broker was built before the worker processes were forked: give each its own consumer name,
            # so the stream's group sees (and balances) them as separate consumers.
            broker.consumer_name = intake.worker_id()
        engine = create_engine(settings)
        session_factory = create_session_factory(engine)
        chain = build_chain(settings, observer=Telemetry(settings, session_factory, Metrics()))
        resources.update(engine=engine, chain=chain)
        _provide(state, settings, session_factory, chain)
        pending = await intake.pending_job_ids(session_factory)
        task = broker.find_task(TASK_NAME)
        assert task is not None
        for job_id in pending:
            await task.kiq(job_id)
        if pending:
            logger.info("re-enqueued %d intake jobs", len(pending))

        resources["sweeper"] = asyncio.create_task(_sweep(broker, settings, session_factory))

    async def shutdown(_state: TaskiqState) -> None:
        if "sweeper" in resources:
            resources["sweeper"].cancel()
        if "chain" in resources:
            await resources["chain"].aclose()
            await resources["engine"].dispose()

    broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, startup)
    broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, shutdown)
    return broker
