"""The manager's domain service: what each call does, one transaction each.

:class:`ExecutorFleet` composes the registry and the leases into the
operations the servicer and the pool need, and owns the sweeper task that
turns silent executors UNHEALTHY and expires their leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from datetime import timedelta

import grpc

from ccplane.v1 import executor_pb2, executor_pb2_grpc
from common.credentials import authorized_channel
from common.db.engine import Database
from common.db.errors import is_unavailable
from common.errors import resource_exhausted, unavailable
from executor_manager import leases, registry
from executor_manager.config import ManagerConfig
from executor_manager.metrics import ManagerMetrics
from executor_manager.records import (
    ExecutorAnnouncement,
    ExecutorRecord,
    ExecutorState,
    HeartbeatReply,
    HeartbeatReport,
    LeaseChange,
    LeaseEvent,
    LeaseRecord,
    LeaseRequest,
)
from executor_manager.signals import ChangeSignal

log = logging.getLogger(__name__)

# How long DrainExecutor waits for the executor's own Drain call.
EXECUTOR_DRAIN_TIMEOUT = 2.0


class ExecutorFleet:
    def __init__(self, db: Database, config: ManagerConfig, metrics: ManagerMetrics | None = None) -> None:
        self._db = db
        self._config = config
        self.metrics = metrics or ManagerMetrics()
        self._lease_ttl = timedelta(seconds=config.heartbeat_timeout)
        self._leasing = True
        self._sweeper: asyncio.Task[None] | None = None
        # Called with the provider when an acquisition found no free slot.
        self.on_shortage: Callable[[str], None] | None = None
        # Wakes on every change this manager makes, heartbeats included.
        self.changed = ChangeSignal()

    @property
    def heartbeat_interval(self) -> float:
        return self._config.heartbeat_interval

    async def start(self) -> None:
        async with self._db.session() as session, session.begin():
            await registry.extend_deadlines(session, self._lease_ttl)
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="executor-sweeper")

    def stop_leasing(self) -> None:
        """Refuse new leases from now on (first phase of shutdown)."""
        self._leasing = False

    async def stop(self) -> None:
        self._leasing = False
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    # --- executors ---------------------------------------------------------

    async def register(self, announcement: ExecutorAnnouncement) -> ExecutorRecord:
        async with self._db.session() as session, session.begin():
            record = await registry.register(session, announcement)
        log.info(
            "executor registered",
            extra={"executor_id": record.id, "address": record.address, "backend": record.backend},
        )
        self.changed.notify()
        return record

    async def heartbeat(self, report: HeartbeatReport) -> HeartbeatReply:
        async with self._db.session() as session, session.begin():
            reply = await registry.heartbeat(session, report, self._lease_ttl)
        self.changed.notify()
        return reply

    async def get(self, executor_id: str) -> ExecutorRecord:
        async with self._db.session() as session:
            return await registry.get(session, executor_id)

    async def executors(self, executor_ids: Collection[str]) -> dict[str, ExecutorRecord]:
        async with self._db.session() as session:
            return await registry.get_many(session, executor_ids)

    async def list_executors(self, *, page_size: int, page_token: str) -> tuple[list[ExecutorRecord], str]:
        async with self._db.session() as session:
            return await registry.list_page(session, page_size=page_size, page_token=page_token)

    async def census(self) -> list[ExecutorRecord]:
        """Every executor not stopped, with its load."""
        async with self._db.session() as session:
            return await registry.census(session)

    async def scrape_targets(self) -> list[ExecutorRecord]:
        """READY and DRAINING executors that serve metrics."""
        async with self._db.session() as session:
            return await registry.scrape_targets(session)

    async def drain(self, executor_id: str) -> ExecutorRecord:
        """No new leases on the executor; it hears so at its next heartbeat,
        and now through its own Drain call when it can be reached."""
        async with self._db.session() as session, session.begin():
            record = await registry.drain(session, executor_id)
        self.changed.notify()
        if record.state == ExecutorState.DRAINING and record.address:
            await _drain_executor(record, self._config.internal_token)
        return record

    async def executor_starting(
        self, executor_id: str, *, backend: str, slots_total: int, labels: dict[str, str]
    ) -> None:
        async with self._db.session() as session, session.begin():
            await registry.mark_starting(
                session, executor_id, backend=backend, slots_total=slots_total, labels=labels
            )
        self.changed.notify()

    async def executor_stopped(self, executor_id: str) -> list[LeaseRecord]:
        """The executor's process is gone: STOPPED, and its leases expire."""
        async with self._db.session() as session, session.begin():
            await registry.set_state(session, [executor_id], ExecutorState.STOPPED)
            expired = await leases.expire(session, [executor_id])
        self.metrics.leases_expired.inc(len(expired))
        _log_expired(expired, "executor stopped")
        self.changed.notify()
        return expired

    async def retire_if_idle(self, executor_id: str) -> bool:
        async with self._db.session() as session, session.begin():
            retired = await registry.retire_if_idle(session, executor_id)
        if retired:
            self.changed.notify()
        return retired

    # --- leases ------------------------------------------------------------

    async def acquire(self, request: LeaseRequest) -> LeaseRecord:
        if not self._leasing:
            raise unavailable("MANAGER_STOPPING", "the executor-manager is shutting down")
        async with self._db.session() as session, session.begin():
            granted = await leases.acquire(session, request, self._lease_ttl)
        if granted is None:
            if self.on_shortage is not None:
                self.on_shortage(request.provider)
            raise resource_exhausted(
                "NO_EXECUTOR_CAPACITY",
                f"no ready executor running {request.provider} has a free slot; retry later",
                provider=request.provider,
            )
        lease, new = granted
        if new:
            self.metrics.leases_granted.inc()
        self.changed.notify()
        return lease

    async def release(self, lease_id: str) -> LeaseEvent | None:
        async with self._db.session() as session, session.begin():
            event = await leases.release(session, lease_id)
        if event is not None:
            expired = event.change == LeaseChange.EXPIRED
            (self.metrics.leases_expired if expired else self.metrics.leases_released).inc()
        self.changed.notify()
        return event

    # --- health ------------------------------------------------------------

    async def sweep(self) -> list[LeaseRecord]:
        """One pass: silent executors become UNHEALTHY, their leases and any
        lease past its deadline expire; long-gone executors are forgotten."""
        config = self._config
        async with self._db.session() as session, session.begin():
            silent = await registry.mark_silent_unhealthy(
                session,
                heartbeat_timeout=timedelta(seconds=config.heartbeat_timeout),
                start_timeout=timedelta(seconds=config.start_timeout),
            )
            expired = await leases.expire(session, silent)
            forgotten = await registry.forget_gone(session, timedelta(seconds=config.forget_after))
        self.metrics.leases_expired.inc(len(expired))
        if silent:
            log.warning("executors missed their heartbeats", extra={"executor_ids": ",".join(silent)})
        _log_expired(expired, "executor silent")
        if forgotten:
            log.info("forgot stopped executors", extra={"count": forgotten})
        if silent or expired or forgotten:
            self.changed.notify()
        return expired

    async def _sweep_forever(self) -> None:
        outage = False
        while True:
            try:
                if outage:
                    async with self._db.session() as session, session.begin():
                        await registry.forgive_silence(session, self._lease_ttl)
                    log.info("the database is back; executors' silence meanwhile is forgiven")
                    outage = False
                await self.sweep()
            except Exception as exc:
                if is_unavailable(exc):
                    if not outage:
                        log.warning("executor sweep: the database is unavailable; retrying")
                    outage = True
                else:
                    log.exception("executor sweep failed; retrying")
            await asyncio.sleep(self._config.sweep_interval)


def _log_expired(expired: list[LeaseRecord], why: str) -> None:
    for lease in expired:
        log.warning(
            "lease expired",
            extra={
                "lease_id": lease.id,
                "run_id": lease.run_id,
                "executor_id": lease.executor_id,
                "why": why,
            },
        )


async def _drain_executor(record: ExecutorRecord, token: str) -> None:
    try:
        async with authorized_channel(record.address, token, traced=True) as channel:
            stub = executor_pb2_grpc.ExecutorServiceStub(channel)
            await stub.Drain(executor_pb2.DrainRequest(), timeout=EXECUTOR_DRAIN_TIMEOUT)
    except grpc.aio.AioRpcError as exc:
        # It hears of it at its next heartbeat anyway.
        log.warning(
            "cannot reach executor to drain it",
            extra={"executor_id": record.id, "code": exc.code().name},
        )
