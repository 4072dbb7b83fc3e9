"""The contract every executor backend passes: ``local`` (processes),
``external`` (executors started by someone else) and ``docker`` (containers
of a real Docker engine).

An executor comes to run (the backend starts it; or, for a backend that
starts none, its operator does and the backend refuses to), registers itself
with the manager, with its own address, and the backend reports it RUNNING.
A backend that starts executors refuses to start one twice, stops it so that
nothing it started is left, and says EXITED afterwards, idempotently; a
backend that cannot kill asks the executor to drain, and says EXITED once
its operator stopped it. What survives a stop (a volume) goes with
``release``. Expectations differ only where the backend's capabilities say so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import pytest_asyncio

from common import ids
from executor.app import default_advertise_host
from executor_manager.app import ExecutorManager
from executor_manager.backends import (
    BackendError,
    ExecutorBackend,
    ExecutorHandle,
    LaunchSpec,
    ProcessState,
)
from executor_manager.backends.external import ExternalBackend
from executor_manager.records import ExecutorState
from tests.integration.executor_manager.conftest import local_backend, record_of, until, wait_state
from tests.integration.executor_manager.docker_engine import (
    DockerSite,
    docker_engine,
    docker_site,
    executor_image,
)
from tests.integration.executor_manager.operators import OperatorExecutor

# The docker fixtures imported above, used by name.
__all__ = ["docker_engine", "docker_site", "executor_image"]


async def local_leftovers(handle: ExecutorHandle) -> list[str]:
    """Processes of this host that still run anything of the executor."""
    left = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if handle.executor_id in " ".join(cmdline) and proc.info["status"] != psutil.STATUS_ZOMBIE:
            left.append(f"{proc.info['pid']}: {' '.join(cmdline)}")
    return left


@dataclass
class Site:
    """A backend, the manager its executors register with, and how to see
    what is left of an executor."""

    backend: ExecutorBackend
    manager: ExecutorManager
    # The manager's address as the backend's executors dial it.
    manager_address: str
    leftovers: Callable[[ExecutorHandle], Awaitable[list[str]]]
    log_dir: Path
    # Executors this test ran as their operator (backends that start none).
    operated: dict[str, OperatorExecutor] = field(default_factory=dict)
    brought_up: list[str] = field(default_factory=list)

    async def bring_up(self, spec: LaunchSpec) -> ExecutorHandle:
        """The executor comes to run: the backend starts it, or its operator does."""
        self.brought_up.append(spec.executor_id)
        if self.backend.capabilities.starts_executors:
            return await self.backend.start(spec)
        assert isinstance(self.backend, ExternalBackend)
        with pytest.raises(BackendError):
            await self.backend.start(spec)
        # Listening on every interface, as in a pod: it advertises its own address.
        self.operated[spec.executor_id] = await OperatorExecutor.start(spec, self.log_dir, host="0.0.0.0")
        return self.backend.watch(spec)

    async def close(self) -> None:
        """Whatever the test left (it failed half-way): processes, containers, volumes."""
        for executor in self.operated.values():
            await executor.kill()
        # Stops what still runs; then what outlives a stop goes, and the
        # client the releases opened is closed.
        await self.backend.close()
        for executor_id in self.brought_up:
            await self.backend.release(executor_id)
        await self.backend.close()


@pytest_asyncio.fixture
async def local_site(manager: ExecutorManager, tmp_path: Path) -> AsyncIterator[Site]:
    made = Site(local_backend(tmp_path), manager, manager.address, local_leftovers, tmp_path / "logs")
    try:
        yield made
    finally:
        await made.close()


@pytest_asyncio.fixture
async def external_site(manager: ExecutorManager, tmp_path: Path) -> AsyncIterator[Site]:
    backend = ExternalBackend(manager.fleet)
    made = Site(backend, manager, manager.address, local_leftovers, tmp_path / "logs")
    try:
        yield made
    finally:
        await made.close()


@pytest_asyncio.fixture
async def docker_contract_site(docker_site: DockerSite, tmp_path: Path) -> AsyncIterator[Site]:
    manager = docker_site.manager
    made = Site(docker_site.backend(), manager, manager.address, docker_site.leftovers, tmp_path / "logs")
    try:
        yield made
    finally:
        await made.close()


SITES = {"local": "local_site", "external": "external_site", "docker": "docker_contract_site"}


@pytest.fixture(params=sorted(SITES))
def site(request: pytest.FixtureRequest) -> Site:
    """The backend under test (only the docker one needs the engine)."""
    made: Site = request.getfixturevalue(SITES[request.param])
    return made


async def test_backend_contract(site: Site, tmp_path: Path) -> None:
    backend, manager = site.backend, site.manager
    capabilities = backend.capabilities
    spec = LaunchSpec(
        executor_id=ids.new_id(ids.EXECUTOR),
        slots=2,
        manager_address=site.manager_address,
        data_dir=tmp_path / "executor",
        labels={"suite": "contract"},
    )
    handle = await site.bring_up(spec)
    try:
        assert (handle.executor_id, handle.backend, handle.spec) == (spec.executor_id, backend.name, spec)
        # The executor registers itself, with its own address.
        record = await wait_state(manager, spec.executor_id, ExecutorState.READY)
        assert (record.backend, record.slots_total, record.labels) == (backend.name, 2, {"suite": "contract"})
        host = record.address.rsplit(":", 1)[0]
        if capabilities.remote:
            # Other hosts dial it: never the wildcard it listens on.
            assert host not in ("0.0.0.0", "[::]", ""), record.address
            if not capabilities.starts_executors:
                assert host == default_advertise_host("0.0.0.0")
        assert record.metrics_address.startswith(f"{host}:")
        health = await backend.health(handle)
        assert health.state == ProcessState.RUNNING, health
        if capabilities.starts_executors:
            with pytest.raises(BackendError):
                await backend.start(spec)
    finally:
        final = await backend.stop(handle, grace=5.0)

    if capabilities.starts_executors:
        assert final.state == ProcessState.EXITED, final
    else:
        # It cannot kill: it asked the executor to drain, and the executor heard.
        assert final.state == ProcessState.RUNNING, final
        drained = await record_of(manager, spec.executor_id)
        assert drained is not None and drained.state == ExecutorState.DRAINING
        # Its operator stops it (a Deployment scaling down); the backend sees it gone.
        assert await site.operated[spec.executor_id].stop() == 0

        async def gone() -> bool:
            return (await backend.health(handle)).state == ProcessState.EXITED

        await until(manager, gone)
        final = await backend.health(handle)
    assert await site.leftovers(handle) == []
    assert await backend.health(handle) == final
    assert await backend.stop(handle, grace=5.0) == final

    # Its last word to the manager: no more leases for it.
    async def not_ready() -> bool:
        record = await record_of(manager, spec.executor_id)
        return record is not None and record.state != ExecutorState.READY

    await until(manager, not_ready)

    if capabilities.can_restart:
        again = await backend.start(spec)
        try:
            await wait_state(manager, spec.executor_id, ExecutorState.READY)
        finally:
            await backend.stop(again, grace=5.0)
        assert await site.leftovers(again) == []
    else:
        with pytest.raises(BackendError):
            await backend.start(spec)
    await backend.release(spec.executor_id)
    await backend.release(spec.executor_id)  # idempotent
