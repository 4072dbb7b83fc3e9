"""The executor process: hosts agent sessions behind ExecutorService.

Shutdown runs in phases: stop accepting sessions (drain), close the live
sessions (their agent processes are stopped and reaped), stop the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from ccplane.v1 import executor_pb2_grpc
from common import credentials
from common.grpc_server import GrpcServer, ServiceRegistration
from common.settings import Settings
from executor.confinement import ConfinementSettings, Confiner
from executor.host_config import HostConfig
from executor.providers import default_registry
from executor.providers.base import ProviderRegistry
from executor.servicer import ExecutorServicer
from executor.sessions import SessionHost

log = logging.getLogger(__name__)

ENDED_SESSION_RETENTION_S = 600.0


class Executor:
    def __init__(
        self,
        config: HostConfig,
        registry: ProviderRegistry | None = None,
        session_options: Mapping[str, Any] | None = None,
        *,
        internal_token: str = "",
        confinement: ConfinementSettings | None = None,
    ) -> None:
        """``internal_token``: the credential callers must present, and the
        one this executor presents to the manager (default: the deployment's,
        see common.credentials). ``confinement``: how sessions are confined
        (default: the ``CCPLANE_SESSION_*`` settings)."""
        self.config = config
        data_dir = Settings().resolved_data_dir()
        self.internal_token = internal_token or credentials.internal_token(data_dir)
        self.confiner = Confiner(
            confinement or ConfinementSettings.from_env(), data_dir=data_dir, executor_id=config.executor_id
        )
        self.host = SessionHost(config, registry or default_registry(), session_options, self.confiner)
        self.server: GrpcServer | None = None
        self._janitor: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        assert self.server is not None
        return self.server.address

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
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
            interceptors=[credentials.InternalAuth(self.internal_token)],
            service_name="ccplane-executor",
        )
        await self.server.start()
        self._janitor = asyncio.create_task(self._forget_ended_sessions(), name="executor-janitor")
        log.info("executor ready", extra={"executor_id": self.config.executor_id, "address": self.address})

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
        self.confiner.stop()
