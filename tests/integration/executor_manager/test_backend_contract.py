"""The contract every executor backend passes (``local`` now; ``docker`` and
``kubernetes`` join the parametrisation when they exist).

A backend starts an executor that registers itself with the manager, reports
it RUNNING, refuses to start it twice, stops it so that nothing it started is
left, and says EXITED afterwards, idempotently.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import psutil
import pytest
import pytest_asyncio

from common import ids
from executor_manager.app import ExecutorManager
from executor_manager.backends import (
    BackendError,
    ExecutorBackend,
    ExecutorHandle,
    LaunchSpec,
    ProcessState,
)
from executor_manager.records import ExecutorState
from tests.integration.executor_manager.conftest import local_backend, record_of, until, wait_state


async def local_leftovers(handle: ExecutorHandle) -> list[str]:
    """Processes of this host that still run anything of the executor."""
    left = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if handle.executor_id in " ".join(cmdline) and proc.info["status"] != psutil.STATUS_ZOMBIE:
            left.append(f"{proc.info['pid']}: {' '.join(cmdline)}")
    return left


BACKENDS: dict[
    str, tuple[Callable[[Path], ExecutorBackend], Callable[[ExecutorHandle], Awaitable[list[str]]]]
] = {
    "local": (local_backend, local_leftovers),
}


@pytest_asyncio.fixture(params=sorted(BACKENDS))
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ExecutorBackend]:
    make, _ = BACKENDS[request.param]
    backend = make(tmp_path)
    try:
        yield backend
    finally:
        await backend.close()


async def test_backend_contract(backend: ExecutorBackend, manager: ExecutorManager, tmp_path: Path) -> None:
    _, leftovers = BACKENDS[backend.name]
    spec = LaunchSpec(
        executor_id=ids.new_id(ids.EXECUTOR),
        slots=2,
        manager_address=manager.address,
        data_dir=tmp_path / "executor",
        labels={"suite": "contract"},
    )
    handle = await backend.start(spec)
    try:
        assert (handle.executor_id, handle.backend, handle.spec) == (spec.executor_id, backend.name, spec)
        # The executor registers itself, with its own address.
        record = await wait_state(manager, spec.executor_id, ExecutorState.READY)
        assert (record.backend, record.slots_total, record.labels) == (backend.name, 2, {"suite": "contract"})
        assert record.address
        health = await backend.health(handle)
        assert health.state == ProcessState.RUNNING
        with pytest.raises(BackendError):
            await backend.start(spec)
    finally:
        final = await backend.stop(handle, grace=5.0)

    assert final.state == ProcessState.EXITED
    assert await leftovers(handle) == []
    assert await backend.health(handle) == final
    assert await backend.stop(handle, grace=5.0) == final

    # Its last word to the manager: no more leases for it.
    async def not_ready() -> bool:
        record = await record_of(manager, spec.executor_id)
        return record is not None and record.state != ExecutorState.READY

    await until(manager, not_ready)

    if backend.capabilities.can_restart:
        again = await backend.start(spec)
        try:
            await wait_state(manager, spec.executor_id, ExecutorState.READY)
        finally:
            await backend.stop(again, grace=5.0)
        assert await leftovers(again) == []
