"""The executor process: hosts agent sessions behind ExecutorService.

Shutdown runs in phases: stop accepting sessions (drain), close the live
sessions (their agent processes are stopped and reaped), stop the server
and the metrics endpoint.

Its Prometheus metrics are served on the host the gRPC server listens on,
on a free port unless ``metrics_port`` says otherwise; the executor reports
that address when it registers, and the manager lists it for Prometheus.

Both addresses are advertised with the host others dial
(``advertise_host``): by default the listen host, or, when listening on
every interface (a container, a pod), the address of this machine's name.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Mapping
from typing import Any

from ccplane.v1 import executor_pb2_grpc
from common import credentials
from common.grpc_server import GrpcServer, ServiceRegistration
from common.metrics import MetricsEndpoint
from common.settings import Settings
from executor.confinement import ConfinementSettings, Confiner
from executor.host_config import HostConfig
from executor.metrics import ExecutorMetrics
from executor.providers import default_registry
from executor.providers.base import ProviderRegistry
from executor.servicer import ExecutorServicer
from executor.sessions import SessionHost

log = logging.getLogger(__name__)

ENDED_SESSION_RETENTION_S = 600.0
_ANY_HOST = {"", "0.0.0.0", "::", "[::]"}


def default_advertise_host(listen_host: str) -> str:
    """The host others dial for a server listening on ``listen_host``: the
    listen host itself, unless it means every interface; then the address
    this machine's name resolves to (a container's or a pod's own address),
    or, when that is loopback, the address of the interface of the default
    route."""
    if listen_host not in _ANY_HOST:
        return listen_host
    with contextlib.suppress(OSError):
        address = socket.gethostbyname(socket.gethostname())
        if not ipaddress.ip_address(address).is_loopback:
            return address
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        # A UDP "connection" sends nothing; it only picks the outgoing interface.
        probe.connect(("192.0.2.1", 9))
        return str(probe.getsockname()[0])
    return "127.0.0.1"


def join_host_port(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"


class Executor:
    def __init__(
        self,
        config: HostConfig,
        registry: ProviderRegistry | None = None,
        session_options: Mapping[str, Any] | None = None,
        *,
        internal_token: str = "",
        confinement: ConfinementSettings | None = None,
        metrics_port: int = 0,
        advertise_host: str = "",
    ) -> None:
        """``internal_token``: the credential callers must present, and the
        one this executor presents to the manager (default: the deployment's,
        see common.credentials). ``confinement``: how sessions are confined
        (default: the ``CCPLANE_SESSION_*`` settings). ``metrics_port``:
        where ``/metrics`` is served (0: a free port; negative: nowhere).
        ``advertise_host``: the host part of the addresses it reports
        (default: :func:`default_advertise_host` of the listen host)."""
        self.config = config
        self._advertise_host = advertise_host
        data_dir = Settings().resolved_data_dir()
        self.internal_token = internal_token or credentials.internal_token(data_dir)
        self.confiner = Confiner(
            confinement or ConfinementSettings.from_env(), data_dir=data_dir, executor_id=config.executor_id
        )
        self.metrics = ExecutorMetrics()
        self.host = SessionHost(
            config, registry or default_registry(), session_options, self.confiner, self.metrics
        )
        self.metrics.known_providers(self.host.registry.names())
        self._metrics_port = metrics_port
        self.metrics_endpoint: MetricsEndpoint | None = None
        self.server: GrpcServer | None = None
        self._janitor: asyncio.Task[None] | None = None

    @property
    def advertised_host(self) -> str:
        """The host part of the addresses this executor reports (set by :meth:`start`)."""
        return self._advertise_host

    @property
    def address(self) -> str:
        """host:port of ExecutorService as others dial it (the advertised host)."""
        assert self.server is not None
        return join_host_port(self.advertised_host, self.server.port)

    @property
    def listen_address(self) -> str:
        assert self.server is not None
        return self.server.address

    @property
    def metrics_address(self) -> str:
        """host:port of ``/metrics``, advertised like :attr:`address` ("" when not served)."""
        if self.metrics_endpoint is None:
            return ""
        return join_host_port(self.advertised_host, self.metrics_endpoint.port)

    @property
    def metrics_url(self) -> str:
        return self.metrics_endpoint.url if self.metrics_endpoint is not None else ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if not self._advertise_host:
            self._advertise_host = await asyncio.to_thread(default_advertise_host, host)
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.confiner.prepare, [self.config.data_dir, self.config.thread_state_dir])
        self.server = GrpcServer(
            [
                ServiceRegistration(
                    "ccplane.v1.ExecutorService",
                    ExecutorServicer(self.host),
                    executor_pb2_grpc.add_ExecutorServiceServicer_to_server,
                )
            ],
            host=host,
            port=port,
            interceptors=[self.metrics.grpc, credentials.InternalAuth(self.internal_token)],
            service_name="ccplane-executor",
        )
        await self.server.start()
        if self._metrics_port >= 0:
            self.metrics_endpoint = self.metrics.endpoint(self.host)
            await self.metrics_endpoint.start(host, self._metrics_port)
        self._janitor = asyncio.create_task(self._forget_ended_sessions(), name="executor-janitor")
        log.info(
            "executor ready",
            extra={
                "executor_id": self.config.executor_id,
                "address": self.address,
                "listen_address": self.listen_address,
            },
        )

    async def _forget_ended_sessions(self) -> None:
        while True:
            await asyncio.sleep(30)
            self.host.forget_ended(ENDED_SESSION_RETENTION_S)

    async def drain(self) -> None:
        """First phase of a shutdown, while still registered (heartbeats say
        draining, so no new session comes): live sessions get the shutdown
        grace to end on their own; what is left then fails."""
        await self.host.shutdown(grace=self.host.config.shutdown_grace)

    async def stop(self) -> None:
        await self.host.shutdown()
        if self._janitor is not None:
            self._janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._janitor
        if self.server is not None:
            await self.server.stop(grace=2.0)
            self.server = None
        if self.metrics_endpoint is not None:
            await self.metrics_endpoint.stop()
            self.metrics_endpoint = None
        self.confiner.stop()
