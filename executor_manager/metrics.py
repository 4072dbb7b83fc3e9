"""The executor-manager's Prometheus metrics and its executors' service discovery.

:class:`ManagerMetrics` owns the manager's registry: the fleet's gauges,
read from the ``executors`` table when Prometheus scrapes (so every manager
sharing a database reports the same fleet; rules take their ``max``), the
lease counters of this process, and its gRPC server's call metrics.

``/sd/executors`` on the same endpoint is a Prometheus HTTP service
discovery document: every READY or DRAINING executor that reported a
metrics address, so Prometheus scrapes the executors without a static list.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.metrics import GrpcServerMetrics, MetricsEndpoint
from executor_manager.records import ExecutorRecord, ExecutorState

if TYPE_CHECKING:
    from executor_manager.fleet import ExecutorFleet

# Stopped executors are history, not fleet: they are left out of the gauges.
FLEET_STATES = tuple(s for s in ExecutorState if s != ExecutorState.STOPPED)
SD_PATH = "/sd/executors"


class ManagerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.grpc = GrpcServerMetrics(self.registry)
        self.executors = Gauge(
            "ccplane_executors", "Executors of the fleet, by state.", ["state"], registry=self.registry
        )
        self.slots = Gauge(
            "ccplane_executor_slots",
            "Session slots of the ready executors: used or free.",
            ["state"],
            registry=self.registry,
        )
        self.leases_granted = Counter(
            "ccplane_leases_granted_total", "Leases this manager granted.", registry=self.registry
        )
        self.leases_released = Counter(
            "ccplane_leases_released_total",
            "Leases their holder gave back before they expired.",
            registry=self.registry,
        )
        self.leases_expired = Counter(
            "ccplane_leases_expired_total",
            "Leases revoked: their executor went silent or exited, or their time ran out.",
            registry=self.registry,
        )
        self.observe_fleet([])

    def observe_fleet(self, executors: Iterable[ExecutorRecord]) -> None:
        """Set the gauges from the fleet as the database has it (every state
        is reported, 0 when no executor is in it)."""
        by_state: Tally[ExecutorState] = Tally()
        used = free = 0
        for executor in executors:
            by_state[executor.state] += 1
            if executor.state == ExecutorState.READY:
                used += min(executor.slots_used, executor.slots_total)
                free += executor.free_slots
        for state in FLEET_STATES:
            self.executors.labels(state.value).set(by_state[state])
        self.slots.labels("used").set(used)
        self.slots.labels("free").set(free)

    def endpoint(self, fleet: ExecutorFleet) -> MetricsEndpoint:
        """``/metrics`` (the gauges refreshed from ``fleet``) and ``/sd/executors``."""

        async def refresh_fleet() -> None:
            self.observe_fleet(await fleet.census())

        async def service_discovery(request: Request) -> Response:
            targets = await fleet.scrape_targets()
            return JSONResponse(
                [
                    {
                        "targets": [executor.metrics_address],
                        "labels": {"executor_id": executor.id, "backend": executor.backend},
                    }
                    for executor in targets
                ]
            )

        return MetricsEndpoint(
            self.registry,
            name="executor-manager",
            refresh=[refresh_fleet],
            routes=[Route(SD_PATH, service_discovery, methods=["GET"])],
        )
