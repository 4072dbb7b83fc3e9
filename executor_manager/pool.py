"""The warm pool: executors this manager starts and supervises through its backend.

The pool keeps ``min_executors`` serving executors (not draining) from boot,
restarts those that exit, never register or stay unhealthy (same id when the
backend can restart, with an exponential backoff against crash loops),
starts one more, up to ``max_executors``, when an acquisition finds every
ready executor full, and stops executors beyond the minimum once they have
been idle for ``idle_timeout``, as well as drained executors once they are
idle. Executors that register on their own (other hosts, other managers) are
not the pool's: it neither counts nor stops them.

With a backend that starts nothing (``external``) there is no pool: every
executor registers on its own, ``min_executors`` and ``max_executors`` are
the operator's business (an autoscaler's), and a shortage is only logged.
The fleet health-checks, drains and forgets those executors.

An executor stopped for good (idle, drained, the manager stopping, or exited
where the backend cannot restart it) is released: the backend frees its
storage (a docker volume). One that will be restarted keeps it.

All of this happens in one supervision task; the pool's other methods only
record wishes and wake it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from common import ids
from common.credentials import INTERNAL_TOKEN_ENV
from common.db.errors import is_unavailable
from executor_manager.backends.base import (
    BackendError,
    ExecutorBackend,
    ExecutorHandle,
    LaunchSpec,
    ProcessState,
)
from executor_manager.config import ManagerConfig
from executor_manager.fleet import ExecutorFleet
from executor_manager.records import ExecutorRecord, ExecutorState

log = logging.getLogger(__name__)


@dataclass
class PoolMember:
    spec: LaunchSpec
    handle: ExecutorHandle | None = None
    started_at: float = 0.0
    # Consecutive exits or failed starts since it was last READY.
    failures: int = 0
    restart_at: float | None = None
    idle_since: float | None = None
    unhealthy_since: float | None = None
    # Whether it has been READY since its last start.
    registered: bool = False
    draining: bool = False

    @property
    def executor_id(self) -> str:
        return self.spec.executor_id


class ExecutorPool:
    def __init__(self, backend: ExecutorBackend, fleet: ExecutorFleet, config: ManagerConfig) -> None:
        self.backend = backend
        self._fleet = fleet
        self._config = config
        self._members: dict[str, PoolMember] = {}
        self._manager_address = ""
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._capacity_wanted = False
        # Providers the pool's executors registered with; empty until one has.
        self._providers: set[str] = set()

    @property
    def executor_ids(self) -> list[str]:
        return sorted(self._members)

    def handle(self, executor_id: str) -> ExecutorHandle | None:
        member = self._members.get(executor_id)
        return member.handle if member is not None else None

    async def start(self, manager_address: str) -> None:
        """Start ``min_executors`` executors (without waiting for them to
        register) and the supervision task."""
        self._manager_address = manager_address
        if not self.backend.capabilities.starts_executors:
            log.info(
                "executors register on their own; the manager starts none",
                extra={"backend": self.backend.name},
            )
            return
        for _ in range(self._config.min_executors):
            await self._launch(self._new_member())
        self._task = asyncio.create_task(self._supervise(), name="executor-pool")

    def request_capacity(self, provider: str) -> None:
        """An acquisition for ``provider`` found no free slot: start one more
        executor if that can help."""
        if not self.backend.capabilities.starts_executors:
            log.info(
                "no free executor slot; start more executors (this backend starts none)",
                extra={"backend": self.backend.name, "provider": provider},
            )
            return
        if self._providers and provider not in self._providers:
            return
        self._capacity_wanted = True
        self._wake.set()

    async def stop(self) -> None:
        """Stop supervising, then stop every executor of the pool."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.gather(*(self._stop(member) for member in list(self._members.values())))
        await self.backend.close()

    # --- supervision -------------------------------------------------------

    async def _supervise(self) -> None:
        while True:
            try:
                await self._tick()
            except Exception as exc:
                if is_unavailable(exc):
                    log.warning("pool supervision: the database is unavailable; retrying")
                else:
                    log.exception("pool supervision failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._config.supervise_interval)
            self._wake.clear()

    async def _tick(self) -> None:
        for member in list(self._members.values()):
            if member.handle is not None:
                health = await self.backend.health(member.handle)
                if health.state == ProcessState.EXITED:
                    await self._exited(member, health.detail)
        records = await self._fleet.executors(list(self._members))
        now = time.monotonic()
        for member in list(self._members.values()):
            await self._check(member, records.get(member.executor_id), now)
        await self._scale(records, now)

    async def _check(self, member: PoolMember, record: ExecutorRecord | None, now: float) -> None:
        if member.handle is None:
            if member.restart_at is not None and now >= member.restart_at:
                await self._launch(member)
            return
        if record is None:
            return
        if record.providers:
            self._providers.update(record.providers)
        if record.state == ExecutorState.READY:
            member.failures = 0
            member.registered = True
        member.draining = record.state == ExecutorState.DRAINING
        idle = record.slots_used == 0 and record.live_leases == 0
        member.idle_since = (
            (member.idle_since or now) if idle and record.state == ExecutorState.READY else None
        )
        unhealthy = record.state == ExecutorState.UNHEALTHY
        member.unhealthy_since = (member.unhealthy_since or now) if unhealthy else None
        limit = self._config.start_timeout
        # The sweeper turns an executor that never registered UNHEALTHY, too.
        never_registered = not member.registered and record.state in (
            ExecutorState.STARTING,
            ExecutorState.UNHEALTHY,
        )
        if never_registered and now - member.started_at > limit:
            await self._restart(member, "did not register in time")
        elif member.unhealthy_since is not None and now - member.unhealthy_since > limit:
            # Running but silent (hung, or cut off from the manager).
            await self._restart(member, "stayed unhealthy")
        elif member.draining and idle:
            log.info("drained executor is idle; stopping it", extra={"executor_id": member.executor_id})
            await self._stop(member)

    async def _scale(self, records: dict[str, ExecutorRecord], now: float) -> None:
        serving = [m for m in self._members.values() if not m.draining]
        if len(serving) < self._config.min_executors:
            for _ in range(self._config.min_executors - len(serving)):
                await self._launch(self._new_member())
            return
        if self._capacity_wanted:
            self._capacity_wanted = False
            starting = any(
                m.handle is None or _state(records, m) in (None, ExecutorState.STARTING) for m in serving
            )
            if not starting and len(serving) < self._config.max_executors:
                log.info("every executor is busy; starting one more")
                await self._launch(self._new_member())
            return
        idle_timeout = self._config.idle_timeout
        if idle_timeout is None or len(serving) <= self._config.min_executors:
            return
        for member in serving:
            if member.idle_since is not None and now - member.idle_since >= idle_timeout:
                if await self._fleet.retire_if_idle(member.executor_id):
                    log.info("stopping an idle executor", extra={"executor_id": member.executor_id})
                    await self._stop(member)
                return

    # --- actions -----------------------------------------------------------

    def _new_member(self) -> PoolMember:
        executor_id = ids.new_id(ids.EXECUTOR)
        spec = LaunchSpec(
            executor_id=executor_id,
            slots=self._config.slots_per_executor,
            manager_address=self._manager_address,
            data_dir=self._config.executors_dir / executor_id,
            # The executors' shared defaults (thread state for resume, ...)
            # live in the manager's data directory.
            env={
                "CCPLANE_DATA_DIR": str(self._config.data_dir.expanduser().resolve()),
                **self._config.executor_env,
                INTERNAL_TOKEN_ENV: self._config.internal_token,
            },
            labels=dict(self._config.executor_labels),
        )
        member = PoolMember(spec)
        self._members[executor_id] = member
        return member

    async def _launch(self, member: PoolMember) -> None:
        member.restart_at = None
        member.unhealthy_since = None
        member.registered = False
        member.started_at = time.monotonic()
        await self._fleet.executor_starting(
            member.executor_id,
            backend=self.backend.name,
            slots_total=member.spec.slots,
            labels=dict(member.spec.labels),
        )
        try:
            member.handle = await self.backend.start(member.spec)
        except BackendError as exc:
            log.error("cannot start executor", extra={"executor_id": member.executor_id, "error": str(exc)})
            await self._fleet.executor_stopped(member.executor_id)
            self._retry_later(member)

    async def _restart(self, member: PoolMember, why: str) -> None:
        log.warning("restarting executor", extra={"executor_id": member.executor_id, "why": why})
        if member.handle is not None:
            await self.backend.stop(member.handle, grace=self._config.stop_grace)
        await self._exited(member, why)

    async def _exited(self, member: PoolMember, detail: str) -> None:
        log.warning("executor exited", extra={"executor_id": member.executor_id, "detail": detail})
        if member.handle is not None:
            # Reap whatever it left behind before it may start again.
            await self.backend.stop(member.handle, grace=0)
            member.handle = None
        await self._fleet.executor_stopped(member.executor_id)
        if not member.draining and self.backend.capabilities.can_restart:
            self._retry_later(member)
            return
        # Drained, or not restartable: a fresh executor (new id) replaces it
        # at the next minimum check.
        del self._members[member.executor_id]
        await self._release(member)

    def _retry_later(self, member: PoolMember) -> None:
        member.failures += 1
        delay = min(
            self._config.restart_backoff_initial * 2 ** (member.failures - 1),
            self._config.restart_backoff_max,
        )
        member.restart_at = time.monotonic() + delay

    async def _stop(self, member: PoolMember) -> None:
        """Stop for good."""
        self._members.pop(member.executor_id, None)
        if member.handle is not None:
            await self.backend.stop(member.handle, grace=self._config.stop_grace)
            member.handle = None
        await self._fleet.executor_stopped(member.executor_id)
        await self._release(member)

    async def _release(self, member: PoolMember) -> None:
        try:
            await self.backend.release(member.executor_id)
        except BackendError as exc:
            log.error(
                "cannot release what the executor held",
                extra={"executor_id": member.executor_id, "error": str(exc)},
            )


def _state(records: dict[str, ExecutorRecord], member: PoolMember) -> ExecutorState | None:
    record = records.get(member.executor_id)
    return record.state if record is not None else None
