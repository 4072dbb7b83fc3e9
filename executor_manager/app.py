"""The executor-manager process: database, lease feed, fleet, gRPC service, pool.

Start-up: migrate and open the database, listen for lease changes, start the
fleet (sweeper), serve ExecutorManagerService and the metrics endpoint, then
start the pool (which needs the served address to hand to its executors).
Shutdown runs in phases: stop leasing; stop the pool's executors (their
leases expire and watchers hear of it), then the metrics endpoint; end the
watch streams and stop the sweeper; stop the server;
close the database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import psycopg

from ccplane.v1 import executor_manager_pb2_grpc
from common.credentials import InternalAuth, internal_token
from common.db.engine import Database
from common.db.migrate import upgrade
from common.grpc_server import GrpcServer, ServiceRegistration
from common.metrics import MetricsEndpoint
from executor_manager.backends import ExecutorBackend, create_backend
from executor_manager.config import ManagerConfig
from executor_manager.feed import LeaseFeed
from executor_manager.fleet import ExecutorFleet
from executor_manager.metrics import ManagerMetrics
from executor_manager.pool import ExecutorPool
from executor_manager.servicer import ExecutorManagerServicer

log = logging.getLogger(__name__)

FLUSH_TIMEOUT = 5.0
_ANY_HOST = {"", "0.0.0.0", "::", "[::]"}


class ExecutorManager:
    def __init__(
        self, config: ManagerConfig, database_url: str, *, backend: ExecutorBackend | None = None
    ) -> None:
        """``backend`` overrides the one named by ``config.backend``."""
        if not config.internal_token:
            config = dataclasses.replace(
                config, internal_token=internal_token(config.data_dir.expanduser().resolve())
            )
        self.config = config
        self._database_url = database_url
        self._backend = backend
        self.db: Database | None = None
        self.feed: LeaseFeed | None = None
        self.fleet: ExecutorFleet | None = None
        self.pool: ExecutorPool | None = None
        self.server: GrpcServer | None = None
        self.metrics = ManagerMetrics()
        self.metrics_endpoint: MetricsEndpoint | None = None

    @property
    def address(self) -> str:
        assert self.server is not None
        return self.server.address

    @property
    def advertised_address(self) -> str:
        """The address executors dial to reach this manager."""
        assert self.server is not None
        if self.config.advertise_address:
            return self.config.advertise_address
        host = self.address.rsplit(":", 1)[0]
        return f"127.0.0.1:{self.server.port}" if host in _ANY_HOST else self.address

    @property
    def metrics_url(self) -> str:
        """``http://host:port`` of ``/metrics`` and ``/sd/executors`` ("" when not served)."""
        return self.metrics_endpoint.url if self.metrics_endpoint is not None else ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        await upgrade(self._database_url)
        self.db = Database(self._database_url, application_name="ccplane-executor-manager")
        self.feed = LeaseFeed(self.db)
        await self.feed.start()
        self.fleet = ExecutorFleet(self.db, self.config, self.metrics)
        await self.fleet.start()
        self.server = GrpcServer(
            [
                ServiceRegistration(
                    "ccplane.v1.ExecutorManagerService",
                    ExecutorManagerServicer(self.fleet, self.feed),
                    executor_manager_pb2_grpc.add_ExecutorManagerServiceServicer_to_server,
                )
            ],
            host=host,
            port=port,
            interceptors=[self.metrics.grpc, InternalAuth(self.config.internal_token)],
            service_name="ccplane-executor-manager",
        )
        await self.server.start()
        if self.config.metrics_port >= 0:
            self.metrics_endpoint = self.metrics.endpoint(self.fleet)
            await self.metrics_endpoint.start(self.config.metrics_host, self.config.metrics_port)
        backend = self._backend or create_backend(self.config)
        backend.bind_fleet(self.fleet)
        self.pool = ExecutorPool(backend, self.fleet, self.config)
        self.fleet.on_shortage = self.pool.request_capacity
        await self.pool.start(self.advertised_address)
        log.info(
            "executor-manager ready",
            extra={
                "address": self.address,
                "backend": backend.name,
                "min_executors": self.config.min_executors,
            },
        )

    async def stop(self) -> None:
        log.info("executor-manager stopping: no new leases, stopping the pool's executors")
        if self.fleet is not None:
            self.fleet.stop_leasing()
        if self.pool is not None:
            await self.pool.stop()
            self.pool = None
        if self.metrics_endpoint is not None:
            await self.metrics_endpoint.stop()
            self.metrics_endpoint = None
        if self.feed is not None:
            # Let watchers hear of the leases that expired with the pool.
            try:
                async with asyncio.timeout(FLUSH_TIMEOUT):
                    await self.feed.flush()
            except (TimeoutError, psycopg.Error) as exc:
                log.warning("lease feed did not flush", extra={"error": str(exc)})
            await self.feed.stop()
            self.feed = None
        if self.fleet is not None:
            await self.fleet.stop()
            self.fleet = None
        if self.server is not None:
            await self.server.stop(grace=2.0)
            self.server = None
        if self.db is not None:
            await self.db.close()
            self.db = None
        log.info("executor-manager stopped")
