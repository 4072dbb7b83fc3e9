"""The whole platform on one machine, on loopback: what ``ccplane up`` runs.

Each part still speaks real gRPC to the others: the control plane, the
executor-manager and the executor processes it starts. Start-up: the
database (embedded PostgreSQL when no URL is configured) and its migrations,
the local admin key (``<data-dir>/admin.key``), the scripted model when asked
for (``--demo``), the executor-manager with its warm pool, the control plane,
the gateway. Shutdown runs in reverse order.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from common.credentials import authorized_channel
from common.db.embedded import EmbeddedPostgres
from common.db.engine import Database
from common.db.migrate import upgrade
from common.scripted_model import ScriptedModelServer
from common.settings import Settings
from control_plane.api_keys import ensure_local_admin_key
from control_plane.app import ControlPlane
from executor.providers.codex.config import ModelConfig
from executor_manager.app import ExecutorManager
from executor_manager.config import ManagerConfig
from gateway.server import Gateway

log = logging.getLogger(__name__)

# The web workbench, when it has been built (`portal/dist`).
_DEFAULT_PORTAL = Path(__file__).resolve().parents[2] / "portal" / "dist"


@dataclass
class StackOptions:
    # Serve the bundled scripted model and point executors at it.
    demo: bool = False
    # The scenario the scripted model plays (a built-in name or a scenario dict).
    scenario: str | Mapping[str, Any] = "demo"
    min_executors: int = 1
    max_executors: int = 4
    slots_per_executor: int = 4
    heartbeat_interval: float = 2.0
    # Silence after which an executor is unhealthy and its leases expire
    # (None: the settings', CCPLANE_EXECUTOR_HEARTBEAT_TIMEOUT).
    heartbeat_timeout: float | None = None
    manager_port: int | None = None
    grpc_port: int | None = None
    # REST gateway port (None: the settings' gateway port; 0: any free port).
    gateway_port: int | None = None
    # The built web portal the gateway serves at / (when the directory exists).
    portal_dir: Path | None = None
    # The control plane's /metrics port; the executor-manager's is the next
    # one (None: the settings', CCPLANE_METRICS_PORT and
    # CCPLANE_EXECUTOR_MANAGER_METRICS_PORT; 0: free ports).
    metrics_port: int | None = None
    # Serve the REST gateway in this process; False when it runs as its own
    # process (`ccplane gateway`), as the browser tests do to kill it.
    serve_gateway: bool = True
    extra_manager_config: Mapping[str, Any] = field(default_factory=dict)


class Stack:
    def __init__(self, settings: Settings, options: StackOptions | None = None) -> None:
        self.settings = settings
        self.options = options or StackOptions()
        self.embedded: EmbeddedPostgres | None = None
        self.model: ScriptedModelServer | None = None
        self.manager: ExecutorManager | None = None
        self.control_plane: ControlPlane | None = None
        self.gateway: Gateway | None = None
        self.database_url = ""
        # The installation's admin key of the default tenant (<data-dir>/admin.key).
        self.admin_key = ""

    @property
    def grpc_address(self) -> str:
        assert self.control_plane is not None
        return self.control_plane.address

    def channel(self) -> grpc.aio.Channel:
        """A channel to the control plane that authenticates with the admin key."""
        return authorized_channel(self.grpc_address, self.admin_key)

    def internal_channel(self, address: str) -> grpc.aio.Channel:
        """A channel to the executor-manager or an executor, with the internal credential."""
        assert self.manager is not None
        return authorized_channel(address, self.manager.config.internal_token)

    @property
    def credentials_problem(self) -> str:
        """Why runs would fail for lack of model credentials ("" when fine)."""
        if self.options.demo:
            return ""
        try:
            ModelConfig.from_env().check()
        except Exception as exc:
            return str(exc)
        return ""

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        self.database_url = await self._database()
        await upgrade(self.database_url)
        self.admin_key = await self._local_admin_key()
        executor_env: dict[str, str] = {}
        if self.options.demo:
            self.model = ScriptedModelServer(self.options.scenario)
            await self.model.start()
            scripted = ModelConfig.scripted(self.model.base_url)
            executor_env = {
                "CCPLANE_MODEL_BASE_URL": self.model.base_url,
                "CCPLANE_MODEL": self.model.model,
                "CCPLANE_MODEL_API_KEY": scripted.api_key or "",
            }
            self.settings.default_model = self.model.model
        config = ManagerConfig(
            data_dir=self.settings.resolved_data_dir(),
            min_executors=self.options.min_executors,
            max_executors=self.options.max_executors,
            slots_per_executor=self.options.slots_per_executor,
            heartbeat_interval=self.options.heartbeat_interval,
            heartbeat_timeout=self.options.heartbeat_timeout or self.settings.executor_heartbeat_timeout,
            stop_grace=self.settings.shutdown_grace + 10,
            metrics_host=self.settings.metrics_host,
            metrics_port=self._manager_metrics_port(),
            **{
                **self.options.extra_manager_config,
                # The scripted model's settings, and any the options add.
                "executor_env": {**executor_env, **self.options.extra_manager_config.get("executor_env", {})},
            },
        )
        self.manager = ExecutorManager(config, self.database_url)
        manager_port = self.options.manager_port
        await self.manager.start(
            "127.0.0.1", self.settings.executor_manager_port if manager_port is None else manager_port
        )
        self.control_plane = ControlPlane(self.settings, self.database_url, self.manager.address)
        await self.control_plane.start(port=self.options.grpc_port, metrics_port=self.options.metrics_port)
        if not self.options.serve_gateway:
            return
        portal = self.options.portal_dir or _DEFAULT_PORTAL
        self.gateway = Gateway(self.control_plane.address, portal_dir=portal if portal.is_dir() else None)
        port = self.settings.gateway_port if self.options.gateway_port is None else self.options.gateway_port
        await self.gateway.start("127.0.0.1", port)

    def _manager_metrics_port(self) -> int:
        port = self.options.metrics_port
        if port is None:
            return self.settings.executor_manager_metrics_port
        return port + 1 if port > 0 else port

    def endpoints(self) -> dict[str, str]:
        """Where each part of the running platform answers (``endpoints.json``)."""
        assert self.control_plane is not None and self.manager is not None
        manager_metrics = self.manager.metrics_url
        return {
            "grpc": self.grpc_address,
            "gateway": self.gateway.url if self.gateway is not None else "",
            "workbench": f"{self.gateway.url}/" if self.gateway and self.gateway.portal_dir else "",
            "executor_manager": self.manager.address,
            "control_plane_metrics": f"{self.control_plane.metrics_url}/metrics"
            if self.control_plane.metrics_url
            else "",
            "executor_manager_metrics": f"{manager_metrics}/metrics" if manager_metrics else "",
            "gateway_metrics": f"{self.gateway.url}/metrics" if self.gateway is not None else "",
            "executor_sd": f"{manager_metrics}/sd/executors" if manager_metrics else "",
            "admin_key_file": str(self.settings.resolved_data_dir() / "admin.key"),
        }

    def write_endpoints(self) -> Path:
        """Write :meth:`endpoints` to ``<data-dir>/endpoints.json``; its path."""
        path = self.settings.resolved_data_dir() / "endpoints.json"
        path.write_text(json.dumps(self.endpoints(), indent=2) + "\n")
        return path

    async def _local_admin_key(self) -> str:
        database = Database(self.database_url, pool_size=1, max_overflow=0, application_name="ccplane-up")
        try:
            async with database.session() as session, session.begin():
                return await ensure_local_admin_key(session, self.settings.resolved_data_dir() / "admin.key")
        finally:
            await database.close()

    async def _database(self) -> str:
        if self.settings.database_url:
            return self.settings.database_url
        self.embedded = EmbeddedPostgres(self.settings.resolved_data_dir())
        url = await asyncio.to_thread(self.embedded.start)
        log.info("using embedded PostgreSQL", extra={"data_dir": str(self.settings.resolved_data_dir())})
        return url

    async def stop(self) -> None:
        """Stop accepting (the gateway, the control plane's calls and
        scheduling); drain (the executors give live runs the shutdown grace
        to finish, and fail what is left with EXECUTOR_SHUTDOWN, while the
        control plane still records it); then stop the rest. So no run is
        left ``running`` with nobody to drive it.

        A phase that takes longer than :data:`SLOW_STOP_S` is logged, with
        what this process is still waiting for."""
        phase = ["gateway"]
        watchdog = asyncio.create_task(_warn_when_slow(phase), name="stack-stop-watchdog")
        try:
            if self.gateway is not None:
                await self.gateway.stop()
                self.gateway = None
            phase[0] = "control plane: stop accepting"
            if self.control_plane is not None:
                await self.control_plane.stop_accepting()
            phase[0] = "executor-manager (executors drain)"
            if self.manager is not None:
                await self.manager.stop()
                self.manager = None
            phase[0] = "control plane"
            if self.control_plane is not None:
                await self.control_plane.stop()
                self.control_plane = None
            phase[0] = "scripted model"
            if self.model is not None:
                await self.model.stop()
                self.model = None
            phase[0] = "embedded PostgreSQL"
            if self.embedded is not None:
                await asyncio.to_thread(self.embedded.stop)
                self.embedded = None
        finally:
            watchdog.cancel()


# A shutdown phase slower than this is logged (the executors' drain may take
# CCPLANE_SHUTDOWN_GRACE and their stop 10 s more).
SLOW_STOP_S = 60.0


async def _warn_when_slow(phase: list[str]) -> None:
    """Every SLOW_STOP_S while stopping: which phase, and the tasks it waits on."""
    while True:
        await asyncio.sleep(SLOW_STOP_S)
        me = asyncio.current_task()
        waiting = []
        for task in asyncio.all_tasks():
            if task is me or task.done():
                continue
            frames = task.get_stack(limit=1)
            where = f"{frames[0].f_code.co_filename}:{frames[0].f_lineno}" if frames else "?"
            waiting.append(f"{task.get_name()} at {where}")
        log.warning(
            "stopping is slow",
            extra={"phase": phase[0], "tasks": "; ".join(sorted(waiting))[:4000]},
        )
