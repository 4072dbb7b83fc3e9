"""The orchestrator of one control-plane process.

- **Scheduling**: queued runs start in FIFO order as executor slots free up
  (``SELECT … FOR UPDATE SKIP LOCKED``, so several control-plane processes
  never start one run twice). A run that finds no free slot stays queued.
- **Driving**: each started run gets a :class:`RunDriver`, owned by this
  process (``agent_runs.owner_id``).
- **Adoption**: runs owned by a process that died (its liveness lock is gone)
  are taken over and their sessions re-attached from the last stored
  executor seq; so are this process's own runs after a restart.
- **Leases**: the executor-manager reports leases that expired because their
  executor stopped heartbeating; their runs become ``lost``.

Shutdown cancels the drivers but leaves the executors' sessions running, so
that a restarted (or another) control plane adopts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Final

from opentelemetry import trace
from sqlalchemy import exists, select
from sqlalchemy.orm import aliased

from ccplane.v1 import executor_manager_pb2, executor_pb2, runs_pb2
from common import tracing
from common.db import models
from common.db.engine import Database
from common.db.errors import is_unavailable
from common.errors import ServiceError
from common.objectstore.base import ObjectStore
from control_plane.metrics import ControlPlaneMetrics
from control_plane.notifications import Notifications
from control_plane.orchestration import commands
from control_plane.orchestration.driver import RunDriver
from control_plane.orchestration.executors import ExecutorManagerClient
from control_plane.orchestration.ingest import LiveRun
from control_plane.orchestration.instance import Instance
from control_plane.runs.state_machine import RunStatus, transition
from control_plane.runs.validation import settings_from_json
from control_plane.workspaces import store as workspace_store
from control_plane.workspaces.runs import claim_for_run

log = logging.getLogger(__name__)

LIVE_STATUSES: Final = ("starting", "running", "waiting_human")
_TRACER = trace.get_tracer("ccplane.control_plane")
SCHEDULE_INTERVAL_S = 1.0
ADOPT_INTERVAL_S = 1.0


class Orchestrator:
    def __init__(
        self,
        db: Database,
        instance: Instance,
        notifications: Notifications,
        manager: ExecutorManagerClient,
        *,
        objects: ObjectStore | None = None,
        human_loop_timeout_s: float = 3600.0,
        metrics: ControlPlaneMetrics | None = None,
    ) -> None:
        self.db = db
        # Where ingest and scheduling are counted (None: nowhere).
        self.metrics = metrics
        # Where runs' workspace versions live (recording what executors sync).
        self.objects = objects
        self._human_loop_timeout_s = human_loop_timeout_s
        self.instance = instance
        self.manager = manager
        self._notifications = notifications
        self._drivers: dict[str, RunDriver] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._schedule = asyncio.Event()
        self._unsubscribe: list[object] = []

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        self._unsubscribe = [
            self._notifications.subscribe(commands.NOTIFY_CHANNEL, self._on_command),
            self._notifications.subscribe(commands.QUEUED_CHANNEL, lambda _: self._schedule.set()),
        ]
        self._tasks = [
            asyncio.create_task(self._schedule_forever(), name="orchestrator-schedule"),
            asyncio.create_task(self._adopt_forever(), name="orchestrator-adopt"),
            asyncio.create_task(self._watch_leases_forever(), name="orchestrator-leases"),
        ]

    async def stop_scheduling(self) -> None:
        """Start no more runs (shutdown's first phase); drive the live ones on."""
        for task in self._tasks:
            if task.get_name() == "orchestrator-schedule":
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._tasks = [t for t in self._tasks if t.get_name() != "orchestrator-schedule"]

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()  # type: ignore[operator]
        tasks = self._tasks + [d.task for d in self._drivers.values() if d.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._drivers.clear()

    # -- helpers used by drivers ------------------------------------------------

    async def release(self, lease_id: str) -> None:
        if lease_id:
            await self.manager.release(lease_id)
        self._schedule.set()

    @staticmethod
    def follow_ups_allowed(live: LiveRun) -> bool:
        return bool(live.thread_id) and not live.stateless

    def _on_command(self, run_id: str | None) -> None:
        if run_id is None:
            for each in self._drivers.values():
                each.wake()
        elif (driver := self._drivers.get(run_id)) is not None:
            driver.wake()

    # -- scheduling -------------------------------------------------------------

    async def _schedule_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._schedule.wait(), SCHEDULE_INTERVAL_S)
            self._schedule.clear()
            try:
                while await self._start_next():
                    pass
            except Exception as exc:
                _log_failure("scheduling failed", exc)

    async def _start_next(self) -> bool:
        """Start the oldest queued run if a slot is free; False when nothing started."""
        picked_at = time.time_ns()
        # The run's ccplane.schedule span, from picking it to its commit.
        async with contextlib.AsyncExitStack() as traced, self.db.session() as session, session.begin():
            holder = aliased(models.AgentRun)
            workspace_held = exists().where(
                holder.workspace_id == models.AgentRun.workspace_id,
                holder.status.in_(workspace_store.HOLDING_STATUSES),
                holder.id != models.AgentRun.id,
            )
            row = (
                await session.execute(
                    select(models.AgentRun)
                    .where(models.AgentRun.status == RunStatus.QUEUED.value, ~workspace_held)
                    .order_by(models.AgentRun.id)
                    .limit(1)
                    .with_for_update(skip_locked=True, of=models.AgentRun)
                )
            ).scalar_one_or_none()
            if row is None:
                return False
            span = tracing.start_run_span(
                _TRACER,
                "ccplane.schedule",
                trace_id=row.trace_id,
                span_id=row.trace_span_id,
                run_id=row.id,
                tenant=row.tenant_id,
                start_time=picked_at,
            )
            traced.enter_context(trace.use_span(span, end_on_exit=True))
            version = None
            if row.workspace_id:
                try:
                    version = await claim_for_run(session, run_id=row.id, workspace_id=row.workspace_id)
                except ServiceError as exc:
                    log.info("run waits for its workspace", extra={"run_id": row.id, "reason": exc.message})
                    span.set_attribute("ccplane.schedule.outcome", "workspace_busy")
                    return False
            # The manager's AcquireExecutor span is this span's child (gRPC propagation).
            lease = await self.manager.acquire(row.id, row.tenant_id, row.provider)
            if lease is None:
                span.set_attribute("ccplane.schedule.outcome", "no_free_slot")
                return False
            span.set_attributes({"ccplane.schedule.outcome": "leased", "ccplane.executor": lease.executor_id})
            try:
                await transition(
                    session,
                    row.id,
                    RunStatus.STARTING,
                    f"executor {lease.executor_id} acquired",
                    executor_id=lease.executor_id,
                    executor_address=lease.address,
                    lease_id=lease.lease_id,
                    owner_id=self.instance.id,
                    executor_seq=0,
                    workspace_version=row.workspace_version if row.workspace_version is not None else version,
                )
                live = self._live(row, RunStatus.STARTING)
                live.executor_seq = 0  # a new session numbers its outputs from 1
            except BaseException:
                await self.manager.release(lease.lease_id)
                raise
        self._spawn(live, address=lease.address, lease_id=lease.lease_id, attach=False)
        return True

    async def _start_message(self, run_id: str) -> executor_pb2.StartSession:
        """The session to start for a run: its prompt, or its next follow-up message."""
        async with self.db.session() as session, session.begin():
            row = await session.get_one(models.AgentRun, run_id)
            prompt = row.prompt
            resume = row.resume_thread_id or ""
            if row.started_at is not None and row.thread_id:
                follow_up = next(
                    (c for c in await commands.pending(session, run_id) if c.kind == "inject"), None
                )
                if follow_up is not None:
                    prompt = follow_up.body
                    await commands.mark_delivered(session, follow_up.id, 0, "started a follow-up turn")
                resume = row.thread_id
            # The workspace as it is now: the run's own earlier turns included.
            current = (
                await session.scalar(
                    select(models.Workspace.current_version).where(models.Workspace.id == row.workspace_id)
                )
                if row.workspace_id
                else None
            )
            return executor_pb2.StartSession(
                run_id=row.id,
                tenant_id=row.tenant_id,
                workspace_id=row.workspace_id or "",
                workspace_version=current or row.workspace_version or 0,
                provider=row.provider,
                model=row.model,
                settings=settings_from_json(row.settings),
                prompt=prompt,
                resume_thread_id=resume,
                lease_id=row.lease_id or "",
            )

    def _spawn(self, live: LiveRun, *, address: str, lease_id: str, attach: bool) -> None:
        run_id = live.run_id
        driver = RunDriver(
            self,
            live,
            address=address,
            lease_id=lease_id,
            build_start=lambda: self._start_message(run_id),
            attach=attach,
        )
        self._drivers[run_id] = driver

        async def drive() -> None:
            try:
                await driver.run()
            finally:
                if self._drivers.get(run_id) is driver:
                    del self._drivers[run_id]
                self._schedule.set()

        driver.task = asyncio.create_task(drive(), name=f"run-driver-{run_id}")

    # -- adoption ---------------------------------------------------------------

    async def _adopt_forever(self) -> None:
        while True:
            try:
                await self._adopt_orphans()
            except Exception as exc:
                _log_failure("adopting runs failed", exc)
            await asyncio.sleep(ADOPT_INTERVAL_S)

    async def _adopt_orphans(self) -> None:
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(models.AgentRun.id, models.AgentRun.owner_id).where(
                        models.AgentRun.status.in_(LIVE_STATUSES)
                    )
                )
            ).all()
        alive: dict[str, bool] = {}
        for run_id, owner in rows:
            if run_id in self._drivers:
                continue
            if owner and owner != self.instance.id:
                if owner not in alive:
                    alive[owner] = await self.instance.is_alive(owner)
                if alive[owner]:
                    continue
            await self._adopt(run_id, owner)

    async def _adopt(self, run_id: str, previous_owner: str | None) -> None:
        if run_id in self._drivers:
            return
        async with self.db.session() as session, session.begin():
            row = (
                await session.execute(
                    select(models.AgentRun)
                    .where(models.AgentRun.id == run_id)
                    .with_for_update(skip_locked=True)
                )
            ).scalar_one_or_none()
            if row is None or row.status not in LIVE_STATUSES or row.owner_id != previous_owner:
                return
            if run_id in self._drivers:  # started by this process meanwhile
                return
            row.owner_id = self.instance.id
            live = self._live(row, RunStatus(row.status))
            address, lease_id = row.executor_address or "", row.lease_id or ""
        log.info("adopting run", extra={"run_id": run_id, "previous_owner": previous_owner or ""})
        if not address:
            async with self.db.session() as session, session.begin():
                await transition(
                    session,
                    run_id,
                    RunStatus.LOST,
                    "no executor recorded",
                    error="no executor",
                    error_reason="NO_EXECUTOR",
                )
            return
        self._spawn(live, address=address, lease_id=lease_id, attach=True)

    # -- leases -----------------------------------------------------------------

    async def _watch_leases_forever(self) -> None:
        while True:
            try:
                async for change in self.manager.watch_leases():
                    if change.change == executor_manager_pb2.LEASE_CHANGE_EXPIRED:
                        await self._lease_expired(change.lease)
                    elif change.change == executor_manager_pb2.LEASE_CHANGE_RELEASED:
                        self._schedule.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("lease watch interrupted", extra={"error": str(exc)})
            await asyncio.sleep(1.0)

    async def _lease_expired(self, lease: executor_manager_pb2.ExecutorLease) -> None:
        driver = self._drivers.get(lease.run_id)
        if driver is None or driver.lease_id != lease.lease_id:
            return
        await driver.lost(f"executor {lease.executor_id} stopped heartbeating", "EXECUTOR_LOST")

    def _live(self, row: models.AgentRun, status: RunStatus) -> LiveRun:
        return _live(row, status, self._human_loop_timeout_s)


def _log_failure(what: str, exc: Exception) -> None:
    if is_unavailable(exc):
        log.warning("%s: the database is unavailable; retrying", what)
    else:
        log.exception(what)


def _live(row: models.AgentRun, status: RunStatus, human_loop_timeout_s: float) -> LiveRun:
    settings = settings_from_json(row.settings)
    return LiveRun(
        run_id=row.id,
        tenant_id=row.tenant_id,
        trace_id=row.trace_id,
        trace_span_id=row.trace_span_id,
        model=row.model,
        status=status,
        executor_seq=row.executor_seq,
        thread_id=row.thread_id or "",
        stateless=settings.thread_mode == runs_pb2.THREAD_MODE_STATELESS,
        human_loop_timeout_s=human_loop_timeout_s,
    )
