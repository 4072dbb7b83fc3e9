"""Plain records of executors and leases, as the manager's domain code sees them.

ORM rows stay in :mod:`.registry` and :mod:`.leases`; protobuf messages stay
in :mod:`.convert`. Everything in between works with these dataclasses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ExecutorState(StrEnum):
    """Where an executor stands (stored in ``executors.state``)."""

    # Started by a backend, not registered yet.
    STARTING = "starting"
    # Registered and heartbeating; takes new leases.
    READY = "ready"
    # Takes no new leases; its live sessions run to their end.
    DRAINING = "draining"
    # Missed its heartbeats; its leases have expired.
    UNHEALTHY = "unhealthy"
    STOPPED = "stopped"


# States in which an executor is expected to heartbeat.
LIVE_STATES = (ExecutorState.READY, ExecutorState.DRAINING)


class LeaseChange(StrEnum):
    ACQUIRED = "acquired"
    RELEASED = "released"
    # The executor stopped heartbeating or exited; the run must be reconciled.
    EXPIRED = "expired"


@dataclass(frozen=True)
class ExecutorRecord:
    id: str
    address: str
    backend: str
    state: ExecutorState
    slots_total: int
    # The load that counts for placement: the larger of the slots the
    # executor reported in its last heartbeat and its live leases.
    slots_used: int
    live_leases: int
    providers: tuple[str, ...]
    labels: Mapping[str, str]
    version: str
    registered_at: datetime
    last_heartbeat_at: datetime
    # host:port of its Prometheus /metrics endpoint ("" when it serves none).
    metrics_address: str = ""

    @property
    def free_slots(self) -> int:
        return max(0, self.slots_total - self.slots_used)


@dataclass(frozen=True)
class LeaseRecord:
    id: str
    executor_id: str
    # The executor's ExecutorService address, where the run's session goes.
    address: str
    run_id: str
    tenant_id: str
    acquired_at: datetime
    expires_at: datetime
    released_at: datetime | None

    @property
    def live(self) -> bool:
        return self.released_at is None

    @property
    def expired(self) -> bool:
        # A lease released before its deadline was returned by its holder; one
        # closed at or after the deadline expired.
        return self.released_at is not None and self.released_at >= self.expires_at


@dataclass(frozen=True)
class LeaseEvent:
    change: LeaseChange
    lease: LeaseRecord


@dataclass(frozen=True)
class ExecutorAnnouncement:
    """What an executor says about itself when it registers."""

    executor_id: str
    address: str
    slots_total: int
    providers: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    version: str = ""
    backend: str = "external"
    metrics_address: str = ""


@dataclass(frozen=True)
class HeartbeatReport:
    executor_id: str
    slots_used: int
    draining: bool
    run_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class HeartbeatReply:
    # False when the manager does not know the executor (or lost track of
    # it): the executor must register again.
    known: bool
    drain: bool


@dataclass(frozen=True)
class LeaseRequest:
    run_id: str
    tenant_id: str
    # Canonical provider kind (aliases already converted).
    provider: str
    preferred_executor_id: str = ""
