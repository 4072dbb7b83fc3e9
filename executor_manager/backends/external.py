"""The ``external`` backend: executors that someone else starts.

A Kubernetes Deployment, compose replicas or machines of your own run
``ccplane executor --manager ADDRESS --backend external`` with the
deployment's internal credential; each executor registers itself and
heartbeats. The manager starts and kills nothing: it leases their slots,
health-checks them by their heartbeats (the fleet's sweeper turns a silent
one UNHEALTHY and expires its leases), drains them (the DrainExecutor call,
heard by the executor directly and at its next heartbeat), and forgets them
``forget_after`` once they are gone. Scaling is the operator's (an
autoscaler on queue depth): the pool keeps no warm pool with this backend.

What the backend sees of an executor is what the fleet knows from its
heartbeats, so it needs the manager's fleet (:meth:`bind_fleet`, done by the
manager at start-up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from common.errors import ServiceError
from executor_manager.backends.base import (
    BackendCapabilities,
    BackendError,
    BackendHealth,
    ExecutorBackend,
    ExecutorHandle,
    LaunchSpec,
    ProcessState,
)
from executor_manager.records import ExecutorRecord, ExecutorState

if TYPE_CHECKING:
    from executor_manager.fleet import ExecutorFleet

log = logging.getLogger(__name__)


class ExternalBackend(ExecutorBackend):
    name = "external"
    capabilities = BackendCapabilities(
        can_restart=False, persistent_storage=False, remote=True, starts_executors=False
    )

    def __init__(self, fleet: ExecutorFleet | None = None) -> None:
        self._fleet = fleet
        # Executors this backend has seen registered: one missing afterwards
        # was forgotten, not "not registered yet".
        self._seen: set[str] = set()

    def bind_fleet(self, fleet: ExecutorFleet) -> None:
        if self._fleet is None:
            self._fleet = fleet

    def _require_fleet(self) -> ExecutorFleet:
        if self._fleet is None:
            raise BackendError("the external backend is not bound to a fleet (bind_fleet)")
        return self._fleet

    async def start(self, spec: LaunchSpec) -> ExecutorHandle:
        raise BackendError(
            f"the external backend starts no executors: start {spec.executor_id} yourself "
            f"(ccplane executor --manager {spec.manager_address} --backend external) and it registers"
        )

    def watch(self, spec: LaunchSpec) -> ExecutorHandle:
        """A handle on the executor ``spec`` describes, which its operator
        started (or is about to): to follow its health and drain it."""
        return ExecutorHandle(spec.executor_id, self.name, spec, ref=spec.executor_id)

    async def health(self, handle: ExecutorHandle) -> BackendHealth:
        fleet = self._require_fleet()
        record = (await fleet.executors([handle.executor_id])).get(handle.executor_id)
        return self._health(handle.executor_id, record)

    def _health(self, executor_id: str, record: ExecutorRecord | None) -> BackendHealth:
        if record is None:
            if executor_id in self._seen:
                return BackendHealth(ProcessState.EXITED, detail="gone and forgotten")
            return BackendHealth(ProcessState.UNKNOWN, detail="not registered")
        if record.state in (ExecutorState.READY, ExecutorState.DRAINING):
            self._seen.add(executor_id)
            return BackendHealth(ProcessState.RUNNING, detail=f"{record.state.value} at {record.address}")
        if record.state == ExecutorState.STOPPED:
            return BackendHealth(ProcessState.EXITED, detail="drained and gone")
        # STARTING (not registered yet, or not heard from since the manager
        # restarted) and UNHEALTHY (silent: it may come back).
        return BackendHealth(ProcessState.UNKNOWN, detail=record.state.value)

    async def stop(self, handle: ExecutorHandle, *, grace: float) -> BackendHealth:
        """Ask the executor to drain, then wait up to ``grace`` for its
        operator to stop it. Nothing is killed: the health returned is
        RUNNING (draining) when it is still there."""
        fleet = self._require_fleet()
        health = await self.health(handle)
        if health.state == ProcessState.EXITED:
            return health
        try:
            await fleet.drain(handle.executor_id)
        except ServiceError:  # NOT_FOUND: never registered, or already forgotten
            return await self.health(handle)
        log.info("asked an external executor to drain", extra={"executor_id": handle.executor_id})

        async def gone() -> bool:
            return (await self.health(handle)).state == ProcessState.EXITED

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await fleet.changed.wait_for(gone)
        return await self.health(handle)
