"""Prometheus metrics of one control plane.

Two kinds of figures:

- what this process does (events it ingested, gRPC calls it served, human
  replies it took, reconcile actions it took, readers of its streams): kept
  in this process's counters, histograms and gauges; Prometheus sums them
  over the replicas;
- what the platform holds (runs by status, the queue, pending human-loop
  requests, alerts): read from the shared database when Prometheus scrapes
  (:class:`PlatformFigures`). Every replica reports the same values, so
  rules and dashboards aggregate them with ``max``, never ``sum``. The
  ``_total`` figures among them (runs created and finished, alerts raised)
  are counts of stored rows, which only grow.

No label carries a run id: label values are statuses, kinds and method
names, all bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from common.db import models
from common.db.engine import Database
from common.metrics import HUMAN_BUCKETS, LATENCY_BUCKETS, GrpcServerMetrics
from control_plane.human_loop.records import HumanLoopRecord
from control_plane.reconcile.runs import ACTION_KINDS
from control_plane.runs.state_machine import TERMINAL, RunStatus

_PENDING: Final = "pending"
_SEVERITIES: Final = ("warning", "critical")
BATCH_BUCKETS: Final = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


class ControlPlaneMetrics:
    """The registry of one control plane and the instruments its parts record into."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.grpc = GrpcServerMetrics(self.registry)
        self.events_ingested = Counter(
            "ccplane_events_ingested_total",
            "Run events stored from executor sessions.",
            registry=self.registry,
        )
        self.ingest_errors = Counter(
            "ccplane_event_ingest_errors_total",
            "Batches of session outputs that could not be stored (the session re-sends them).",
            registry=self.registry,
        )
        self.ingest_batch_size = Histogram(
            "ccplane_event_ingest_batch_size",
            "Session outputs stored per transaction.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.ingest_duration = Histogram(
            "ccplane_event_ingest_duration_seconds",
            "Time to store one batch of session outputs (one transaction).",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.human_loop_reply = Histogram(
            "ccplane_human_loop_reply_seconds",
            "Time from a human-loop request to its resolution, by outcome (answered, expired).",
            ["outcome"],
            buckets=HUMAN_BUCKETS,
            registry=self.registry,
        )
        for outcome in ("answered", "expired"):
            self.human_loop_reply.labels(outcome)
        self.stream_subscribers = Gauge(
            "ccplane_stream_subscribers",
            "Readers following a run's events or todos on this control plane.",
            registry=self.registry,
        )
        self.reconcile_actions = Counter(
            "ccplane_reconcile_actions_total",
            "Changes reconciliation made, by kind (lost_expired, orphaned, start_timeout, "
            "queued_too_long, stale_lease).",
            ["kind"],
            registry=self.registry,
        )
        for kind in ACTION_KINDS:
            self.reconcile_actions.labels(kind)
        self.alert_pushes = Counter(
            "ccplane_alertmanager_pushes_total",
            "Pushes of the platform's alerts to Alertmanager, by result (ok, error).",
            ["result"],
            registry=self.registry,
        )
        self.platform: PlatformFigures | None = None

    def watch_platform(self, db: Database) -> PlatformFigures:
        """Report the figures the shared database holds; refresh them before each scrape."""
        if self.platform is not None:  # a restart of the same control plane
            self.registry.unregister(self.platform)
        self.platform = PlatformFigures(db)
        self.registry.register(self.platform)
        return self.platform

    def count_reconcile_action(self, kind: str) -> None:
        self.reconcile_actions.labels(kind).inc()

    def count_subscribers(self, count: Callable[[], int]) -> None:
        self.stream_subscribers.set_function(lambda: float(count()))

    def observe_resolved(self, outcome: str, record: HumanLoopRecord) -> None:
        """A human-loop request was resolved (``answered`` or ``expired``)."""
        if record.resolved_at is not None:
            waited = (record.resolved_at - record.created_at).total_seconds()
            self.human_loop_reply.labels(outcome).observe(max(0.0, waited))

    def observe_expired(self, record: HumanLoopRecord) -> None:
        self.observe_resolved("expired", record)


class PlatformFigures(Collector):
    """Runs, the queue, pending human-loop requests and alerts, as the database holds them."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.runs_by_status: dict[str, int] = {s.value: 0 for s in RunStatus}
        self.pending_requests = 0
        self.oldest_pending_s = 0.0
        self.alerts: dict[tuple[str, str], tuple[int, int]] = {}

    async def refresh(self) -> None:
        async with self._db.session() as session:
            runs = dict(
                (
                    await session.execute(
                        select(models.AgentRun.status, func.count()).group_by(models.AgentRun.status)
                    )
                ).all()
            )
            pending, oldest, now = (
                await session.execute(
                    select(func.count(), func.min(models.HumanLoopRequest.created_at), func.now()).where(
                        models.HumanLoopRequest.status == _PENDING
                    )
                )
            ).one()
            alerts = (
                await session.execute(
                    select(
                        models.ReconcileAlert.kind,
                        models.ReconcileAlert.severity,
                        func.count(),
                        func.count().filter(models.ReconcileAlert.resolved_at.is_(None)),
                    ).group_by(models.ReconcileAlert.kind, models.ReconcileAlert.severity)
                )
            ).all()
        self.runs_by_status = {s.value: int(runs.get(s.value, 0)) for s in RunStatus}
        self.pending_requests = int(pending)
        self.oldest_pending_s = (now - oldest).total_seconds() if oldest is not None else 0.0
        self.alerts = {(kind, severity): (int(total), int(open_)) for kind, severity, total, open_ in alerts}

    def collect(self) -> Iterator[Metric]:
        runs = GaugeMetricFamily("ccplane_runs", "Runs by status.", labels=["status"])
        for status, count in self.runs_by_status.items():
            runs.add_metric([status], count)
        yield runs
        yield CounterMetricFamily(
            "ccplane_runs_created", "Runs created.", value=sum(self.runs_by_status.values())
        )
        finished = CounterMetricFamily(
            "ccplane_runs_finished", "Runs that ended, by final status.", labels=["status"]
        )
        for status in sorted(s.value for s in TERMINAL):
            finished.add_metric([status], self.runs_by_status.get(status, 0))
        yield finished
        yield GaugeMetricFamily(
            "ccplane_run_queue_depth",
            "Runs queued for an executor slot.",
            value=self.runs_by_status.get(RunStatus.QUEUED.value, 0),
        )
        yield GaugeMetricFamily(
            "ccplane_human_loop_pending",
            "Human-loop requests waiting for a person.",
            value=self.pending_requests,
        )
        yield GaugeMetricFamily(
            "ccplane_human_loop_oldest_pending_seconds",
            "Age of the oldest human-loop request waiting for a person (0 when none waits).",
            value=self.oldest_pending_s,
        )
        raised = CounterMetricFamily(
            "ccplane_alerts", "Alerts the platform raised, by kind and severity.", labels=["kind", "severity"]
        )
        open_by_severity = dict.fromkeys(_SEVERITIES, 0)
        for (kind, severity), (total, open_) in sorted(self.alerts.items()):
            raised.add_metric([kind, severity], total)
            open_by_severity[severity] = open_by_severity.get(severity, 0) + open_
        yield raised
        open_alerts = GaugeMetricFamily(
            "ccplane_alerts_open",
            "Alerts neither resolved nor acknowledged, by severity.",
            labels=["severity"],
        )
        for severity, count in open_by_severity.items():
            open_alerts.add_metric([severity], count)
        yield open_alerts
