"""Keeps this executor registered with the executor-manager.

One task: register (id, address, metrics address, slots, providers,
backend, version, labels), heartbeat right away and then every ``heartbeat_interval`` the
manager asked for (slots used, draining, runs with a live session). It
registers again when the manager answers ``known=false`` (it forgot the
executor, or declared it unhealthy) and after the manager was unreachable,
retrying with a capped exponential backoff meanwhile. When told
``drain=true`` it drains the session host. ``stop`` sends a last heartbeat
saying the executor is draining, so that no new lease comes its way while it
shuts down.

Labels come from ``CCPLANE_EXECUTOR_LABELS`` (``key=value,key=value``) unless
given; backends set it for the executors they start. The addresses it
registers carry the executor's advertised host
(``CCPLANE_EXECUTOR_ADVERTISE_HOST``, see :class:`executor.app.Executor`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import os
from collections.abc import Mapping

import grpc

from ccplane.v1 import executor_manager_pb2 as pb
from ccplane.v1 import executor_manager_pb2_grpc
from common.credentials import authorized_channel
from executor.app import Executor

log = logging.getLogger(__name__)

LABELS_ENV = "CCPLANE_EXECUTOR_LABELS"
# The host part of the addresses an executor registers (its ExecutorService
# and /metrics): what the manager, control planes and Prometheus dial.
ADVERTISE_HOST_ENV = "CCPLANE_EXECUTOR_ADVERTISE_HOST"


def labels_from_env(raw: str | None = None) -> dict[str, str]:
    raw = os.environ.get(LABELS_ENV, "") if raw is None else raw
    labels = {}
    for item in raw.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            labels[key.strip()] = value.strip()
    return labels


def _version() -> str:
    try:
        return importlib.metadata.version("ccplane")
    except importlib.metadata.PackageNotFoundError:
        return ""


class Registration:
    """Registers ``executor`` with the manager at ``manager_address`` and
    heartbeats until stopped. An empty ``manager_address`` makes
    ``start``/``stop`` do nothing (a standalone executor).

    Precondition for ``start``: the executor is started (its address is known).
    """

    def __init__(
        self,
        executor: Executor,
        manager_address: str,
        *,
        backend: str = "external",
        labels: Mapping[str, str] | None = None,
        version: str | None = None,
        retry_initial: float = 0.5,
        retry_max: float = 10.0,
        rpc_timeout: float = 5.0,
    ) -> None:
        self._executor = executor
        self._manager_address = manager_address
        self._backend = backend
        self._labels = dict(labels) if labels is not None else labels_from_env()
        self._version = _version() if version is None else version
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._rpc_timeout = rpc_timeout
        self._channel: grpc.aio.Channel | None = None
        self._stub: executor_manager_pb2_grpc.ExecutorManagerServiceStub | None = None
        self._task: asyncio.Task[None] | None = None
        # How many times the manager accepted a registration (for logs and tests).
        self.registrations = 0
        # Set while the manager cannot be reached; cleared once registered again.
        self.manager_unreachable = asyncio.Event()

    @property
    def executor_id(self) -> str:
        return self._executor.config.executor_id

    async def start(self) -> None:
        if not self._manager_address:
            log.info("no executor-manager configured; not registering")
            return
        self._channel = authorized_channel(self._manager_address, self._executor.internal_token, traced=True)
        self._stub = executor_manager_pb2_grpc.ExecutorManagerServiceStub(self._channel)
        self._task = asyncio.create_task(self._run(), name="executor-registration")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._stub is not None and self.registrations:
            # Best effort: a manager that does not hear this notices the silence.
            with contextlib.suppress(grpc.aio.AioRpcError):
                await self._stub.Heartbeat(self._report(draining=True), timeout=min(1.0, self._rpc_timeout))
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
            self._stub = None

    async def _run(self) -> None:
        delay = self._retry_initial
        while True:
            try:
                interval = await self._register()
                delay = self._retry_initial
                while True:
                    if not await self._heartbeat():
                        break
                    await asyncio.sleep(interval)
                log.info("executor-manager does not know this executor; registering again")
            except grpc.aio.AioRpcError as exc:
                self.manager_unreachable.set()
                level = logging.ERROR if exc.code() == grpc.StatusCode.INVALID_ARGUMENT else logging.WARNING
                log.log(
                    level,
                    "cannot reach the executor-manager; retrying",
                    extra={"code": exc.code().name, "detail": exc.details() or "", "retry_in": delay},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)

    async def _register(self) -> float:
        assert self._stub is not None
        host = self._executor.host
        response = await self._stub.RegisterExecutor(
            pb.RegisterExecutorRequest(
                executor_id=self.executor_id,
                address=self._executor.address,
                slots_total=self._executor.config.slots,
                providers=host.registry.names(),
                labels=self._labels,
                version=self._version,
                backend=self._backend,
                metrics_address=self._executor.metrics_address,
            ),
            timeout=self._rpc_timeout,
        )
        self.registrations += 1
        self.manager_unreachable.clear()
        interval = response.heartbeat_interval.ToTimedelta().total_seconds() or 5.0
        log.info(
            "registered with the executor-manager",
            extra={
                "executor_id": self.executor_id,
                "manager": self._manager_address,
                "heartbeat_interval": interval,
            },
        )
        return interval

    async def _heartbeat(self) -> bool:
        """One heartbeat; False when the manager asks us to register again."""
        assert self._stub is not None
        response = await self._stub.Heartbeat(self._report(), timeout=self._rpc_timeout)
        if response.drain and not self._executor.host.draining:
            log.info("the executor-manager asks this executor to drain")
            self._executor.host.drain()
        return bool(response.known)

    def _report(self, *, draining: bool | None = None) -> pb.HeartbeatRequest:
        host = self._executor.host
        return pb.HeartbeatRequest(
            executor_id=self.executor_id,
            slots_used=host.slots_used,
            draining=host.draining if draining is None else draining,
            run_ids=[s.run_id for s in host.sessions() if not s.outputs.ended],
        )
