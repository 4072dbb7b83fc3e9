"""The control-plane process: database, migrations and the gRPC services.

Start-up order: open the database, apply migrations, serve. Shutdown runs in
phases: stop accepting calls (health NOT_SERVING, grace for in-flight
calls), then close the database.
"""

from __future__ import annotations

import logging

from ccplane.v1 import (
    executor_manager_pb2,
    executor_pb2,
    human_loop_pb2_grpc,
    reconcile_pb2_grpc,
    runs_pb2_grpc,
    sessions_pb2_grpc,
    workspaces_pb2_grpc,
)
from common.credentials import internal_token
from common.db.engine import Database
from common.db.migrate import upgrade
from common.grpc_server import GrpcServer, ServiceRegistration
from common.metrics import MetricsEndpoint
from common.objectstore.base import ObjectStore
from common.objectstore.url import open_store, store_url_from_env
from common.settings import Settings
from control_plane.alerts.outlet import AlertmanagerOutlet
from control_plane.auth import Authenticator, AuthInterceptor
from control_plane.events.feed import EventFeed
from control_plane.human_loop.servicer import HumanLoopServicer
from control_plane.human_loop.sweeper import ExpirySweeper
from control_plane.limits import TenantLimits
from control_plane.metrics import ControlPlaneMetrics
from control_plane.notifications import Notifications
from control_plane.orchestration import commands
from control_plane.orchestration.executors import ExecutorManagerClient
from control_plane.orchestration.instance import Instance
from control_plane.orchestration.orchestrator import Orchestrator
from control_plane.reconcile.loop import Reconciler
from control_plane.reconcile.runs import ReconcilePolicy
from control_plane.reconcile.servicer import ReconcileServicer
from control_plane.runs.servicer import RunServicer
from control_plane.sessions.servicer import SessionServicer
from control_plane.workspaces.servicer import WorkspaceServicer

log = logging.getLogger(__name__)

# The services users call, served here.
PUBLIC_SERVICES = (
    "ccplane.v1.RunService",
    "ccplane.v1.HumanLoopService",
    "ccplane.v1.WorkspaceService",
    "ccplane.v1.ReconcileService",
    "ccplane.v1.SessionService",
)
# Internal services, served by the executor-manager and the executors on their
# own ports. The control plane's reflection describes them too, so that one
# address documents the whole ccplane.v1 contract.
INTERNAL_SERVICES = ("ccplane.v1.ExecutorManagerService", "ccplane.v1.ExecutorService")


class ControlPlane:
    """One control-plane process.

    Without an executor-manager address it serves the API but starts no
    runs (they stay queued).
    """

    def __init__(self, settings: Settings, database_url: str, executor_manager_address: str = "") -> None:
        self.settings = settings
        self._database_url = database_url
        self._manager_address = executor_manager_address or settings.executor_manager_address
        self.db: Database | None = None
        self.server: GrpcServer | None = None
        self.instance: Instance | None = None
        self.notifications: Notifications | None = None
        self.feed: EventFeed | None = None
        self.sweeper: ExpirySweeper | None = None
        self.objects: ObjectStore | None = None
        self.orchestrator: Orchestrator | None = None
        self._manager: ExecutorManagerClient | None = None
        self.reconciler: Reconciler | None = None
        self.authenticator: Authenticator | None = None
        self.metrics = ControlPlaneMetrics()
        self.metrics_endpoint: MetricsEndpoint | None = None
        self.alert_outlet: AlertmanagerOutlet | None = None

    @property
    def address(self) -> str:
        assert self.server is not None
        return self.server.address

    @property
    def metrics_url(self) -> str:
        """``http://host:port`` of this control plane's metrics ("" when it serves none)."""
        return self.metrics_endpoint.url if self.metrics_endpoint is not None else ""

    async def start(
        self, *, host: str | None = None, port: int | None = None, metrics_port: int | None = None
    ) -> None:
        """``metrics_port``: where /metrics is served (default: the settings'; negative: nowhere)."""
        await upgrade(self._database_url)
        self.db = Database(self._database_url, application_name="ccplane-control-plane")
        metrics = self.metrics
        platform = metrics.watch_platform(self.db)
        self.authenticator = Authenticator(
            self.db,
            TenantLimits(self.settings.tenant_max_runs, self.settings.tenant_rps),
            ttl=self.settings.auth_cache_ttl,
        )
        data_dir = self.settings.resolved_data_dir()
        self.objects = open_store(store_url_from_env(data_dir), data_dir=data_dir)
        self.instance = Instance(self._database_url)
        await self.instance.start()
        self.sweeper = ExpirySweeper(self.db, on_expired=metrics.observe_expired)
        self.sweeper.start()
        self.feed = EventFeed(self.db.url, application_name="ccplane-control-plane-feed")
        await self.feed.start()
        feed = self.feed
        metrics.count_subscribers(lambda: feed.subscribers)
        self.notifications = Notifications(
            self._database_url, [commands.NOTIFY_CHANNEL, commands.QUEUED_CHANNEL]
        )
        await self.notifications.start()
        if self._manager_address:
            self._manager = ExecutorManagerClient(self._manager_address, internal_token(data_dir))
            self.orchestrator = Orchestrator(
                self.db,
                self.instance,
                self.notifications,
                self._manager,
                objects=self.objects,
                human_loop_timeout_s=self.settings.human_loop_timeout_s,
                metrics=metrics,
            )
            await self.orchestrator.start()
        self.reconciler = Reconciler(
            self.db,
            self.instance,
            ReconcilePolicy.from_settings(self.settings),
            release=self._manager.release if self._manager is not None else None,
            interval_s=self.settings.reconcile_interval,
            count=metrics.count_reconcile_action,
        )
        self.reconciler.start()
        if self.settings.alertmanager_url:
            self.alert_outlet = AlertmanagerOutlet(
                self.db,
                self.settings.alertmanager_url,
                interval_s=self.settings.alertmanager_interval,
                on_push=lambda result: metrics.alert_pushes.labels(result).inc(),
            )
            self.alert_outlet.start()
        registrations = [
            ServiceRegistration(
                "ccplane.v1.RunService",
                RunServicer(self.db, self.settings, self.feed, on_resolved=metrics.observe_resolved),
                runs_pb2_grpc.add_RunServiceServicer_to_server,
            ),
            ServiceRegistration(
                "ccplane.v1.HumanLoopService",
                HumanLoopServicer(self.db, self.feed, on_resolved=metrics.observe_resolved),
                human_loop_pb2_grpc.add_HumanLoopServiceServicer_to_server,
            ),
            ServiceRegistration(
                "ccplane.v1.WorkspaceService",
                WorkspaceServicer(self.db, self.objects),
                workspaces_pb2_grpc.add_WorkspaceServiceServicer_to_server,
            ),
            ServiceRegistration(
                "ccplane.v1.ReconcileService",
                ReconcileServicer(
                    self.db,
                    self.reconciler,
                    self.sweeper,
                    on_alerts_changed=self.alert_outlet.wake if self.alert_outlet is not None else None,
                ),
                reconcile_pb2_grpc.add_ReconcileServiceServicer_to_server,
            ),
            ServiceRegistration(
                "ccplane.v1.SessionService",
                SessionServicer(self.db, self.authenticator, self.settings.session_ttl),
                sessions_pb2_grpc.add_SessionServiceServicer_to_server,
            ),
        ]
        self.server = GrpcServer(
            registrations,
            host=host or self.settings.grpc_host,
            port=self.settings.grpc_port if port is None else port,
            interceptors=[metrics.grpc, AuthInterceptor(self.authenticator)],
            service_name="ccplane-control-plane",
            described_services=INTERNAL_SERVICES,
        )
        await self.server.start()
        port_for_metrics = self.settings.metrics_port if metrics_port is None else metrics_port
        if port_for_metrics >= 0:
            self.metrics_endpoint = MetricsEndpoint(
                metrics.registry, name="ccplane-control-plane", refresh=[platform.refresh]
            )
            await self.metrics_endpoint.start(self.settings.metrics_host, port_for_metrics)

    async def stop_accepting(self) -> None:
        """First phase of a shutdown: no more calls, no more runs started;
        live runs are still driven (and recorded) until :meth:`stop`."""
        if self.server is not None:
            await self.server.stop()
            self.server = None
        if self.orchestrator is not None:
            await self.orchestrator.stop_scheduling()

    async def stop(self) -> None:
        """Stop serving, stop driving runs (their sessions live on for
        adoption), then release the database."""
        if self.server is not None:
            await self.server.stop()
            self.server = None
        if self.reconciler is not None:
            await self.reconciler.stop()
            self.reconciler = None
        if self.alert_outlet is not None:
            await self.alert_outlet.stop()
            self.alert_outlet = None
        if self.metrics_endpoint is not None:
            await self.metrics_endpoint.stop()
            self.metrics_endpoint = None
        if self.orchestrator is not None:
            await self.orchestrator.stop()
            self.orchestrator = None
        if self._manager is not None:
            await self._manager.close()
            self._manager = None
        if self.notifications is not None:
            await self.notifications.stop()
            self.notifications = None
        if self.feed is not None:
            await self.feed.stop()
            self.feed = None
        if self.sweeper is not None:
            await self.sweeper.stop()
            self.sweeper = None
        if self.instance is not None:
            await self.instance.stop()
            self.instance = None
        if self.objects is not None:
            await self.objects.close()
            self.objects = None
        if self.db is not None:
            await self.db.close()
            self.db = None


# Reflection finds descriptors in the default pool: the internal services'
# files must be loaded for the control plane to describe them.
_DESCRIBED_FILES = (executor_pb2.DESCRIPTOR, executor_manager_pb2.DESCRIPTOR)
