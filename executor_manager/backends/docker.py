"""The ``docker`` backend: executors as containers, through the Docker Engine API.

Each executor is one container, ``ccplane-executor-<id>``, of the configured
image, running ``ccplane executor ... --host 0.0.0.0 --backend docker`` on
the configured network (the default bridge unless told otherwise), under
``docker-init`` (so that the agent processes it starts are reaped), with
the configured memory, CPU and process limits, and labelled
``ccplane.executor_id=<id>`` and ``ccplane.managed=true``. Its environment
is the launch spec's (the internal credential, model settings: never
logged) plus the data directory below.

Storage: one named volume per executor, ``ccplane-executor-<id>``, mounted
at ``/var/lib/ccplane`` (``CCPLANE_DATA_DIR`` in the container; the
executor's own directory is ``/var/lib/ccplane/executor``). The volume
outlives the container: an executor the pool restarts (crashed, killed,
hung) gets the same id and finds its data again. It is removed by
:meth:`DockerBackend.release`, when the pool stops the executor for good
(idle, drained, the manager shutting down). ``spec.data_dir``, a path of
the manager's host, is not used.

Network: containers are other hosts. The manager address in the spec must be
reachable from the network (the manager listens on the bridge, for example
``--host 0.0.0.0``, and advertises an address containers dial with
``--advertise-address``, such as the bridge gateway ``172.17.0.1:50052``);
a loopback address is refused. The executor advertises its container's own
address (see ``CCPLANE_EXECUTOR_ADVERTISE_HOST``), which the host and other
containers on the network reach.

Stopping sends SIGTERM, waits ``grace`` seconds, then SIGKILL, and removes
the container. Containers left behind by a manager that was killed are not
reaped here: remove them by label (``docker rm -f $(docker ps -aq --filter
label=ccplane.managed=true)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiodocker
import aiohttp
from aiodocker.containers import DockerContainer
from aiodocker.volumes import DockerVolume

from executor_manager.backends.base import (
    BackendCapabilities,
    BackendError,
    BackendHealth,
    ExecutorBackend,
    ExecutorHandle,
    LaunchSpec,
    ProcessState,
)

log = logging.getLogger(__name__)

NAME_PREFIX = "ccplane-executor-"
DATA_MOUNT = "/var/lib/ccplane"
EXECUTOR_DATA_DIR = f"{DATA_MOUNT}/executor"
# Inside its own network namespace every executor can use the same ports.
EXECUTOR_PORT = 50060
METRICS_PORT = 9466
LABEL_EXECUTOR_ID = "ccplane.executor_id"
LABEL_MANAGED = "ccplane.managed"
DEFAULT_COMMAND = ("ccplane", "executor")
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


@dataclass(frozen=True)
class DockerLimits:
    """Per container; 0 means no limit."""

    memory_bytes: int = 0
    cpus: float = 0.0
    pids: int = 0

    def host_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.memory_bytes:
            config["Memory"] = self.memory_bytes
        if self.cpus:
            config["NanoCpus"] = int(self.cpus * 1e9)
        if self.pids:
            config["PidsLimit"] = self.pids
        return config


def container_name(executor_id: str) -> str:
    return f"{NAME_PREFIX}{executor_id}"


def volume_name(executor_id: str) -> str:
    return f"{NAME_PREFIX}{executor_id}"


class DockerBackend(ExecutorBackend):
    name = "docker"
    capabilities = BackendCapabilities(can_restart=True, persistent_storage=True, remote=True)

    def __init__(
        self,
        *,
        image: str,
        network: str = "bridge",
        limits: DockerLimits | None = None,
        env: Mapping[str, str] | None = None,
        docker_url: str = "",
        command: Sequence[str] = DEFAULT_COMMAND,
    ) -> None:
        """``command`` is the executor command in the image (it takes
        ``python -m executor``'s flags); ``env`` is given to every executor
        (the spec's environment wins); ``docker_url``: the Engine API
        (empty: ``DOCKER_HOST`` or the local socket)."""
        self.image = image
        self.network = network
        self.limits = limits or DockerLimits()
        self._env = dict(env or {})
        self._docker_url = docker_url
        self._command = tuple(command)
        self._docker: aiodocker.Docker | None = None
        # executor id -> id of its current container.
        self._containers: dict[str, str] = {}
        self._final: dict[str, BackendHealth] = {}

    async def _client(self) -> aiodocker.Docker:
        if self._docker is None:
            try:
                self._docker = aiodocker.Docker(url=self._docker_url or None)
            except (ValueError, OSError) as exc:
                raise BackendError(f"no Docker engine to talk to: {exc}") from exc
        return self._docker

    # --- start -------------------------------------------------------------

    def argv(self, spec: LaunchSpec) -> list[str]:
        host_network = self.network == "host"
        return [
            *self._command,
            "--executor-id",
            spec.executor_id,
            "--host",
            "0.0.0.0",
            # On the host's network, executors must not share ports.
            "--port",
            "0" if host_network else str(EXECUTOR_PORT),
            "--metrics-port",
            "0" if host_network else str(METRICS_PORT),
            "--manager",
            spec.manager_address,
            "--backend",
            self.name,
            "--slots",
            str(spec.slots),
            "--data-dir",
            EXECUTOR_DATA_DIR,
        ]

    def container_config(self, spec: LaunchSpec) -> dict[str, Any]:
        env = {**self._env, **spec.env, "CCPLANE_DATA_DIR": DATA_MOUNT}
        if spec.labels:
            env["CCPLANE_EXECUTOR_LABELS"] = ",".join(f"{k}={v}" for k, v in sorted(spec.labels.items()))
        return {
            "Image": self.image,
            # The whole command line: whatever entrypoint the image has.
            "Entrypoint": self.argv(spec),
            "Cmd": [],
            "Env": [f"{key}={value}" for key, value in env.items()],
            "Labels": self.labels(spec.executor_id),
            "StopSignal": "SIGTERM",
            # The image's health check guesses the service from the main
            # process, which is docker-init here: name the executor's port.
            "Healthcheck": self._healthcheck(),
            "HostConfig": {
                "NetworkMode": self.network,
                "Init": True,
                "Mounts": [{"Type": "volume", "Source": volume_name(spec.executor_id), "Target": DATA_MOUNT}],
                "RestartPolicy": {"Name": "no"},
                # Codex sandboxes each command with bubblewrap, which needs user
                # namespaces; Docker's default seccomp profile refuses them to a
                # process without CAP_SYS_ADMIN ("bwrap: No permissions to create
                # new namespace"), and every command would fail. The executor
                # still runs as the image's unprivileged user, with no added
                # capability (as in deploy/docker-compose.yml).
                "SecurityOpt": ["seccomp=unconfined"],
                **self.limits.host_config(),
            },
        }

    def _healthcheck(self) -> dict[str, Any]:
        if self.network == "host":
            return {"Test": ["NONE"]}
        return {
            "Test": ["CMD", self._command[0], "health", "--address", f"127.0.0.1:{EXECUTOR_PORT}"],
            "Interval": 10 * 10**9,
            "Timeout": 5 * 10**9,
            "StartPeriod": 30 * 10**9,
            "Retries": 3,
        }

    @staticmethod
    def labels(executor_id: str) -> dict[str, str]:
        return {LABEL_EXECUTOR_ID: executor_id, LABEL_MANAGED: "true"}

    async def start(self, spec: LaunchSpec) -> ExecutorHandle:
        if spec.slots < 1:
            raise BackendError("an executor needs at least one slot")
        self._check_reachable(spec.manager_address)
        docker = await self._client()
        name = container_name(spec.executor_id)
        try:
            await self._remove_exited(docker, name)
            # aiodocker's volume calls are not annotated.
            await docker.volumes.create(  # type: ignore[no-untyped-call]
                {"Name": volume_name(spec.executor_id), "Labels": self.labels(spec.executor_id)}
            )
            container = await docker.containers.create(self.container_config(spec), name=name)
        except aiodocker.DockerError as exc:
            raise BackendError(f"cannot create the container of executor {spec.executor_id}: {exc}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise BackendError(f"cannot reach the Docker engine: {exc}") from exc
        # Tracked from now on, so that ``close`` removes it whatever happens next.
        self._containers[spec.executor_id] = container.id
        try:
            await container.start()
        except (aiodocker.DockerError, aiohttp.ClientError, OSError) as exc:
            await self._discard(spec.executor_id, container)
            raise BackendError(f"cannot start the container of executor {spec.executor_id}: {exc}") from exc
        except asyncio.CancelledError:
            # The manager is stopping: leave no container behind.
            await self._discard(spec.executor_id, container)
            raise
        self._final.pop(spec.executor_id, None)
        log.info(
            "executor container started",
            extra={"executor_id": spec.executor_id, "container": container.id[:12], "image": self.image},
        )
        return ExecutorHandle(spec.executor_id, self.name, spec, ref=container.id)

    async def _discard(self, executor_id: str, container: DockerContainer) -> None:
        self._containers.pop(executor_id, None)
        with contextlib.suppress(aiodocker.DockerError, aiohttp.ClientError, OSError):
            await container.delete(force=True)

    async def _remove_exited(self, docker: aiodocker.Docker, name: str) -> None:
        """Make way for a new container of this name; refuse when one runs."""
        try:
            container = await docker.containers.get(name)
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                return
            raise
        state = container["State"]
        if state.get("Running") or state.get("Restarting"):
            raise BackendError(f"executor container {name} is already running")
        await container.delete(force=True)

    def _check_reachable(self, manager_address: str) -> None:
        if self.network == "host":
            return
        host = manager_address.rsplit(":", 1)[0].strip("[]")
        loopback = host.lower() in _LOOPBACK_NAMES
        with contextlib.suppress(ValueError):
            loopback = loopback or ipaddress.ip_address(host).is_loopback
        if loopback or host in ("", "0.0.0.0", "::"):
            raise BackendError(
                f"executor containers cannot reach the manager at {manager_address!r}: make the manager "
                "listen where the containers' network reaches it (for example --host 0.0.0.0) and set "
                "--advertise-address to that address (for example the bridge gateway, 172.17.0.1:PORT)"
            )

    # --- health and stop -----------------------------------------------------

    async def health(self, handle: ExecutorHandle) -> BackendHealth:
        if self._containers.get(handle.executor_id) != handle.ref:
            return self._final.get(
                handle.executor_id, BackendHealth(ProcessState.UNKNOWN, detail="not started by this backend")
            )
        docker = await self._client()
        try:
            info = await docker.containers.container(handle.ref).show()
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                return BackendHealth(ProcessState.EXITED, detail="container removed")
            return BackendHealth(ProcessState.UNKNOWN, detail=f"Docker engine: {exc}")
        except (aiohttp.ClientError, OSError) as exc:
            return BackendHealth(ProcessState.UNKNOWN, detail=f"Docker engine unreachable: {exc}")
        return container_health(info)

    async def stop(self, handle: ExecutorHandle, *, grace: float) -> BackendHealth:
        if self._containers.get(handle.executor_id) != handle.ref:
            return self._final.get(
                handle.executor_id, BackendHealth(ProcessState.EXITED, detail="not running")
            )
        return await self._stop(handle.executor_id, handle.ref, grace)

    async def _stop(self, executor_id: str, ref: str, grace: float) -> BackendHealth:
        docker = await self._client()
        container = docker.containers.container(ref)
        try:
            final = await self._stop_container(container, executor_id, grace)
            await container.delete(force=True)
        except aiodocker.DockerError as exc:
            if exc.status != 404:
                return self._cannot_stop(executor_id, f"Docker engine: {exc}")
            final = BackendHealth(ProcessState.EXITED, detail="container removed")
        except (aiohttp.ClientError, OSError) as exc:
            return self._cannot_stop(executor_id, f"Docker engine unreachable: {exc}")
        self._final[executor_id] = final
        del self._containers[executor_id]
        log.info("executor container stopped", extra={"executor_id": executor_id, "detail": final.detail})
        return final

    def _cannot_stop(self, executor_id: str, detail: str) -> BackendHealth:
        # Still tracked: ``close`` tries again.
        log.error("cannot stop executor container", extra={"executor_id": executor_id, "error": detail})
        return BackendHealth(ProcessState.UNKNOWN, detail=detail)

    async def _stop_container(
        self, container: DockerContainer, executor_id: str, grace: float
    ) -> BackendHealth:
        info = await container.show()
        if info["State"].get("Running"):
            await container.kill(signal="SIGTERM")
            try:
                async with asyncio.timeout(grace):
                    await container.wait()
            except TimeoutError:
                log.warning("executor did not stop in time; killing it", extra={"executor_id": executor_id})
                with contextlib.suppress(aiodocker.DockerError):  # it may have exited meanwhile
                    await container.kill(signal="SIGKILL")
                await container.wait()
            info = await container.show()
        return container_health(info)

    async def release(self, executor_id: str) -> None:
        """Remove the executor's volume (its data directory)."""
        docker = await self._client()
        try:
            volume = DockerVolume(docker, volume_name(executor_id))  # type: ignore[no-untyped-call]
            await volume.delete()  # type: ignore[no-untyped-call]
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                return
            raise BackendError(f"cannot remove the volume of executor {executor_id}: {exc}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise BackendError(f"cannot reach the Docker engine: {exc}") from exc
        log.info("executor volume removed", extra={"executor_id": executor_id})

    async def close(self) -> None:
        # Safety net: the pool stops (and releases) its executors first.
        if self._docker is None:
            return
        for executor_id, ref in list(self._containers.items()):
            await self._stop(executor_id, ref, grace=0)
        await self._docker.close()
        self._docker = None


def container_health(info: Mapping[str, Any]) -> BackendHealth:
    """What a container's inspected state says of its executor."""
    state = info.get("State", {})
    status = state.get("Status", "")
    short = str(info.get("Id", ""))[:12]
    if state.get("Running") and not state.get("Restarting") and not state.get("Paused"):
        return BackendHealth(ProcessState.RUNNING, detail=f"container {short} running")
    # "removing": its process is gone, the container is going.
    if status in ("exited", "dead", "removing"):
        code = int(state.get("ExitCode", 0))
        # docker-init exits with 128 + the signal that killed the executor.
        if 128 < code < 128 + 65:
            detail = f"killed by {_signal_name(code - 128)}"
            code = -(code - 128)
        else:
            detail = f"exited with code {code}"
        if state.get("OOMKilled"):
            detail += " (out of memory)"
        return BackendHealth(ProcessState.EXITED, exit_code=code, detail=f"container {short} {detail}")
    return BackendHealth(ProcessState.UNKNOWN, detail=f"container {short} {status or 'in an unknown state'}")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
