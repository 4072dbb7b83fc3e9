"""The contract every executor backend implements.

A backend turns a :class:`LaunchSpec` into a running executor process
(a local process, a container, a pod) and back. It does not register the
executor: the executor dials ``spec.manager_address`` and registers itself,
with the address at which its ExecutorService listens. The pool
(:mod:`executor_manager.pool`) decides when to start, restart and stop; a
backend only does what it is told and reports what it sees.

A backend that starts nothing (``external``: executors run by Kubernetes,
compose or an operator) says so with ``starts_executors=False``: the pool
then keeps no warm pool, and the backend only watches and drains executors
that registered on their own.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from executor_manager.fleet import ExecutorFleet


class BackendError(Exception):
    """The backend could not do what it was asked (start failed, spec refused)."""


class ProcessState(StrEnum):
    RUNNING = "running"
    EXITED = "exited"
    # The backend cannot tell right now (API unreachable, pod pending, ...).
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class BackendHealth:
    """What the backend sees of one executor's process, container or pod."""

    state: ProcessState
    # Set when ``state`` is EXITED and the backend knows it (negative: killed by that signal).
    exit_code: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class BackendCapabilities:
    # ``start`` may be called again with the spec of an executor that exited,
    # bringing the same executor id back.
    can_restart: bool
    # An executor's ``data_dir`` survives a restart (thread state, workspaces).
    persistent_storage: bool
    # Executors run on other hosts: ``manager_address`` must be reachable from
    # there, and executors advertise non-loopback addresses.
    remote: bool
    # ``start`` starts executors. False: someone else starts them (they
    # register themselves); ``start`` raises BackendError and ``stop`` can
    # only ask an executor to drain.
    starts_executors: bool = True


@dataclass(frozen=True)
class LaunchSpec:
    """Everything a backend needs to start one executor."""

    executor_id: str
    slots: int
    # Where the executor registers and heartbeats (host:port).
    manager_address: str
    # The executor's data directory, as the executor sees it.
    data_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExecutorHandle:
    """A started executor, as its backend knows it."""

    executor_id: str
    backend: str
    spec: LaunchSpec
    # The backend's own reference: a pid, a container id, a pod name.
    ref: str


class ExecutorBackend(abc.ABC):
    """Starts, stops and watches executors.

    Methods are coroutines called from the manager's event loop; a backend
    must not block it (run blocking client calls in a thread).
    """

    #: The name executors report at registration ("local", "docker", "kubernetes").
    name: str
    capabilities: BackendCapabilities

    @abc.abstractmethod
    async def start(self, spec: LaunchSpec) -> ExecutorHandle:
        """Start an executor and return at once, without waiting for it to register.

        Preconditions: ``spec.executor_id`` is not running on this backend;
        ``spec.slots`` >= 1; ``spec.manager_address`` is reachable from where
        the executor runs. Raises :class:`BackendError` when the executor
        cannot be started.
        """

    @abc.abstractmethod
    async def stop(self, handle: ExecutorHandle, *, grace: float) -> BackendHealth:
        """Stop an executor: ask it to shut down, kill it after ``grace``
        seconds, and release what it held (processes, containers, pods), so
        that nothing it started outlives it. Returns its final health (EXITED
        unless the backend cannot tell).

        Idempotent: stopping an exited or already stopped executor returns its
        last health.
        """

    @abc.abstractmethod
    async def health(self, handle: ExecutorHandle) -> BackendHealth:
        """What the backend sees now. Cheap enough to call every second.

        RUNNING says nothing about registration or heartbeats (the registry
        tracks those); EXITED means the executor will not come back unless
        started again.
        """

    def bind_fleet(self, fleet: ExecutorFleet) -> None:  # noqa: B027 - optional hook
        """The manager hands over its fleet before the first call (a backend
        that sees executors through their heartbeats reads it)."""

    async def release(self, executor_id: str) -> None:  # noqa: B027 - optional hook
        """The executor will not be started again: free what outlives its
        stops (a volume). Its data directory is gone afterwards.

        Precondition: the executor is stopped. Idempotent.
        """

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the backend's own resources (API clients).

        Precondition: every executor started by this backend has been stopped.
        """
