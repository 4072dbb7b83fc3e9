"""What only the docker backend promises, against a real Docker engine: each
executor container gets the configured limits, its own volume and labels;
a killed container is reported EXITED and the pool brings the same executor
back, with the same volume; an executor stopped for good takes its volume
along; and a real session (the codex binary in the container, against the
scripted model on the docker bridge) runs on a docker executor.
"""

from __future__ import annotations

import asyncio
import io
import signal
import tarfile
from collections.abc import AsyncIterator
from typing import Any

import aiodocker
import grpc
import pytest
import pytest_asyncio
from aiodocker.containers import DockerContainer

from ccplane.v1 import events_pb2, executor_manager_pb2_grpc, executor_pb2, executor_pb2_grpc, runs_pb2
from ccplane.v1 import executor_manager_pb2 as pb
from common.scripted_model import ScriptedModelServer
from executor.providers.codex.config import ModelConfig
from executor_manager.app import ExecutorManager
from executor_manager.backends import ProcessState
from executor_manager.backends.docker import (
    DATA_MOUNT,
    EXECUTOR_PORT,
    LABEL_EXECUTOR_ID,
    LABEL_MANAGED,
    METRICS_PORT,
    DockerBackend,
    DockerLimits,
    volume_name,
)
from executor_manager.records import ExecutorRecord, ExecutorState
from tests.integration.executor_manager.conftest import (
    manager_config,
    new_run_id,
    record_of,
    until,
    wait_state,
)
from tests.integration.executor_manager.docker_engine import DockerEngine, docker_engine, executor_image
from tests.keys import internal_channel
from tests.platform import own_database

LIMITS = DockerLimits(memory_bytes=768 * 1024**2, cpus=1.5, pids=512)
SCENARIO: dict[str, Any] = {
    "name": "hello-from-a-container",
    "steps": [
        # A command, run in Codex's bubblewrap sandbox inside the container.
        {"output": [{"exec": "echo sandboxed > proof.txt && cat proof.txt"}]},
        {"when_contains": "function_call_output", "output": [{"message": "Hello from a container."}]},
    ],
}
# Docker needs a moment more than a local process (a container to set up).
SESSION_WAIT = 60.0

# The fixtures imported above, used by name.
__all__ = ["docker_engine", "executor_image"]


class DockerPool:
    def __init__(self, manager: ExecutorManager, backend: DockerBackend, model: ScriptedModelServer) -> None:
        self.manager = manager
        self.backend = backend
        self.model = model

    async def ready_member(self) -> ExecutorRecord:
        """The pool's one executor, once READY."""
        pool, fleet = self.manager.pool, self.manager.fleet
        assert pool is not None and fleet is not None

        async def ready() -> bool:
            ids = pool.executor_ids
            if len(ids) != 1:
                return False
            record = await record_of(self.manager, ids[0])
            return record is not None and record.state == ExecutorState.READY

        async with asyncio.timeout(SESSION_WAIT):
            await fleet.changed.wait_for(ready)
        record = await record_of(self.manager, pool.executor_ids[0])
        assert record is not None
        return record


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def docker_pool(
    docker_engine: DockerEngine,
    executor_image: str,
    postgres_server_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[DockerPool]:
    """A manager whose pool keeps one docker executor, on a database of its
    own (no other suite's executor takes its leases), listening on the
    docker bridge; the scripted model serves there too."""
    gateway = docker_engine.gateway
    model = ScriptedModelServer(SCENARIO, host=gateway)
    await model.start()
    backend = DockerBackend(image=executor_image, limits=LIMITS, env={"CCPLANE_LOG_FORMAT": "text"})
    config = manager_config(
        tmp_path_factory.mktemp("docker-manager"),
        backend="docker",
        min_executors=1,
        max_executors=1,
        slots_per_executor=2,
        heartbeat_interval=0.5,
        heartbeat_timeout=5.0,
        start_timeout=45.0,
        stop_grace=5.0,
        # A killed executor is restarted after this long: time to see it EXITED.
        restart_backoff_initial=2.0,
        executor_env={
            "CCPLANE_MODEL_BASE_URL": model.base_url,
            "CCPLANE_MODEL": model.model,
            "CCPLANE_MODEL_API_KEY": ModelConfig.scripted(model.base_url).api_key or "",
        },
    )
    try:
        with own_database(postgres_server_url, "ccplane_docker") as database_url:
            manager = ExecutorManager(config, database_url, backend=backend)
            try:
                await manager.start(gateway, 0)
                yield DockerPool(manager, backend, model)
            finally:
                await manager.stop()
    finally:
        await model.stop()


async def test_a_session_runs_on_a_docker_executor(docker_pool: DockerPool) -> None:
    record = await docker_pool.ready_member()
    async with internal_channel(docker_pool.manager.address) as channel:
        stub = executor_manager_pb2_grpc.ExecutorManagerServiceStub(channel)
        run_id = new_run_id()
        lease = (
            await stub.AcquireExecutor(
                pb.AcquireExecutorRequest(run_id=run_id, tenant_id="t", provider="codex-app-server")
            )
        ).lease
        assert (lease.executor_id, lease.address) == (record.id, record.address)
        try:
            kinds = await run_session(lease.address, run_id, docker_pool.model.model)
        finally:
            await stub.ReleaseExecutor(pb.ReleaseExecutorRequest(lease_id=lease.lease_id))
    assert "turn.completed" in kinds and "message.completed" in kinds


async def run_session(address: str, run_id: str, model: str) -> list[str]:
    """One session over ExecutorService.Session: a turn, then close; the kinds seen."""
    requests: asyncio.Queue[executor_pb2.SessionRequest | None] = asyncio.Queue()
    requests.put_nowait(
        executor_pb2.SessionRequest(
            start=executor_pb2.StartSession(
                run_id=run_id,
                prompt="say hello",
                model=model,
                settings=runs_pb2.RunSettings(approval_mode=runs_pb2.APPROVAL_MODE_NEVER),
            )
        )
    )

    async def outgoing() -> AsyncIterator[executor_pb2.SessionRequest]:
        while (item := await requests.get()) is not None:
            yield item

    kinds: list[str] = []
    message = ""
    commands: list[events_pb2.CommandCompleted] = []
    async with internal_channel(address) as channel, asyncio.timeout(SESSION_WAIT):
        call = executor_pb2_grpc.ExecutorServiceStub(channel).Session(outgoing())
        while True:
            response = await call.read()
            assert response is not grpc.aio.EOF, f"the session stream ended; saw {kinds}"
            output = response.output
            kind = output.WhichOneof("output")
            kinds.append(output.event.type if kind == "event" else str(kind))
            if kind == "event" and output.event.type == "command.completed":
                commands.append(output.event.command_completed)
            if kind == "event" and output.event.type == "message.completed":
                message = output.event.message_completed.text
            if kind == "event" and output.event.type == "turn.completed":
                requests.put_nowait(
                    executor_pb2.SessionRequest(close=executor_pb2.CloseSession(reason="done"))
                )
            if kind == "ended":
                assert output.ended.outcome == executor_pb2.SESSION_OUTCOME_COMPLETED, kinds
                requests.put_nowait(None)
                break
    assert message == "Hello from a container."
    assert len(commands) == 1, " ".join(kinds)
    [command] = commands
    assert (command.exit_code, command.output.strip()) == (0, "sandboxed"), (
        "the command ran in Codex's sandbox in the container"
    )
    return kinds


async def test_limits_volume_and_a_killed_container_restarted_with_its_volume(
    docker_pool: DockerPool, docker_engine: DockerEngine
) -> None:
    manager, backend = docker_pool.manager, docker_pool.backend
    assert manager.pool is not None
    record = await docker_pool.ready_member()
    handle = manager.pool.handle(record.id)
    assert handle is not None
    docker = docker_engine.client
    container = docker.containers.container(handle.ref)
    info = await container.show()

    host_config = info["HostConfig"]
    assert host_config["SecurityOpt"] == ["seccomp=unconfined"], "Codex's sandbox needs user namespaces"
    assert (host_config["Memory"], host_config["NanoCpus"], host_config["PidsLimit"]) == (
        LIMITS.memory_bytes,
        int(LIMITS.cpus * 1e9),
        LIMITS.pids,
    )
    (mount,) = info["Mounts"]
    assert (mount["Type"], mount["Name"], mount["Destination"]) == (
        "volume",
        volume_name(record.id),
        DATA_MOUNT,
    )
    assert info["Config"]["Labels"][LABEL_EXECUTOR_ID] == record.id
    assert info["Config"]["Labels"][LABEL_MANAGED] == "true"
    # It registered the address the host and other containers dial.
    ip = info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    assert (record.address, record.metrics_address) == (f"{ip}:{EXECUTOR_PORT}", f"{ip}:{METRICS_PORT}")
    # Its secrets are in its environment, not on its command line.
    assert not any("TOKEN" in part or "API_KEY" in part for part in info["Config"]["Entrypoint"])

    await put_file(container, "marker", b"kept")
    await container.kill(signal="SIGKILL")
    await container.wait()
    # Reported EXITED (killed), whether the pool has noticed yet or not.
    health = await backend.health(handle)
    assert (health.state, health.exit_code) == (ProcessState.EXITED, -signal.SIGKILL), health
    await wait_state(manager, record.id, ExecutorState.STOPPED)

    # Back with the same id, a new container and the same volume.
    again = await wait_state(manager, record.id, ExecutorState.READY)
    restarted = manager.pool.handle(record.id)
    assert restarted is not None and restarted.ref != handle.ref
    assert again.address.endswith(f":{EXECUTOR_PORT}")
    assert await read_file(docker.containers.container(restarted.ref), "marker") == b"kept"
    with pytest.raises(aiodocker.DockerError) as gone:
        await container.show()
    assert gone.value.status == 404, "the killed container was removed"

    # Drained, it is stopped for good: its volume goes with it.
    async with internal_channel(manager.address) as channel:
        await executor_manager_pb2_grpc.ExecutorManagerServiceStub(channel).DrainExecutor(
            pb.DrainExecutorRequest(executor_id=record.id)
        )

    async def volume_removed() -> bool:
        stopped = await record_of(manager, record.id)
        if stopped is None or stopped.state != ExecutorState.STOPPED:
            return False
        return not await docker_engine.volume_exists(volume_name(record.id))

    await until(manager, volume_removed)
    assert not await docker_engine.containers_of(record.id)


async def put_file(container: DockerContainer, name: str, content: bytes) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        entry = tarfile.TarInfo(name)
        entry.size = len(content)
        tar.addfile(entry, io.BytesIO(content))
    await container.put_archive(DATA_MOUNT, buffer.getvalue())


async def read_file(container: DockerContainer, name: str) -> bytes:
    archive = await container.get_archive(f"{DATA_MOUNT}/{name}")
    member = archive.extractfile(name)
    assert member is not None
    return member.read()
