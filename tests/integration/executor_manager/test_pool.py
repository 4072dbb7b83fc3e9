"""The warm pool with real executor processes: boot, crash restart, scale up and down."""

from __future__ import annotations

import contextlib

import grpc
import psutil
import pytest

from ccplane.v1 import executor_manager_pb2 as pb
from ccplane.v1 import executor_manager_pb2_grpc
from executor_manager.app import ExecutorManager
from executor_manager.backends import ProcessState
from executor_manager.records import ExecutorRecord, ExecutorState
from tests.integration.executor_manager.conftest import (
    new_run_id,
    record_of,
    until,
    wait_exited,
    wait_state,
    watching,
)

Stub = executor_manager_pb2_grpc.ExecutorManagerServiceStub
PROVIDER = "codex-app-server"


def pool_ids(manager: ExecutorManager) -> list[str]:
    assert manager.pool is not None
    return manager.pool.executor_ids


def pid_of(manager: ExecutorManager, executor_id: str) -> int:
    assert manager.pool is not None
    handle = manager.pool.handle(executor_id)
    assert handle is not None
    return int(handle.ref)


async def ready_pool(manager: ExecutorManager, count: int) -> list[ExecutorRecord]:
    """Wait until the pool has exactly ``count`` executors, all READY."""
    records: list[ExecutorRecord] = []

    async def all_ready() -> bool:
        nonlocal records
        assert manager.fleet is not None
        ids = pool_ids(manager)
        found = await manager.fleet.executors(ids)
        records = [found[i] for i in ids if i in found]
        return (
            len(ids) == count
            and len(records) == count
            and all(r.state == ExecutorState.READY for r in records)
        )

    await until(manager, all_ready)
    return records


async def acquire(stub: Stub, preferred: str = "") -> pb.ExecutorLease:
    response: pb.AcquireExecutorResponse = await stub.AcquireExecutor(
        pb.AcquireExecutorRequest(run_id=new_run_id(), provider=PROVIDER, preferred_executor_id=preferred)
    )
    return response.lease


async def test_pool_starts_min_executors_which_register(manager: ExecutorManager) -> None:
    (record,) = await ready_pool(manager, 1)
    assert record.backend == "local"
    assert PROVIDER in record.providers
    assert record.slots_total == 1
    assert record.address.startswith("127.0.0.1:")
    assert manager.pool is not None
    handle = manager.pool.handle(record.id)
    assert handle is not None
    assert (await manager.pool.backend.health(handle)).state == ProcessState.RUNNING


async def test_killed_executor_comes_back_and_its_leases_expire(manager: ExecutorManager, stub: Stub) -> None:
    (before,) = await ready_pool(manager, 1)
    pid = pid_of(manager, before.id)
    async with watching(manager, stub) as watch:
        lease = await acquire(stub, preferred=before.id)
        assert lease.executor_id == before.id
        psutil.Process(pid).kill()
        await wait_exited(pid)
        assert (await watch.next_for(lease.lease_id)).change == pb.LEASE_CHANGE_ACQUIRED
        assert (await watch.next_for(lease.lease_id)).change == pb.LEASE_CHANGE_EXPIRED

    # The same executor is started again and registers anew.
    async def registered_again() -> bool:
        record = await record_of(manager, before.id)
        return (
            record is not None
            and record.state == ExecutorState.READY
            and record.registered_at > before.registered_at
        )

    await until(manager, registered_again)
    assert pool_ids(manager) == [before.id]
    assert pid_of(manager, before.id) != pid


async def test_pool_scales_up_when_full_and_back_down_when_idle(manager: ExecutorManager, stub: Stub) -> None:
    (first,) = await ready_pool(manager, 1)
    busy = await acquire(stub)
    assert busy.executor_id == first.id
    # The only executor is full: the run waits, and the pool starts another.
    with pytest.raises(grpc.aio.AioRpcError) as full:
        await acquire(stub)
    assert full.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    records = await ready_pool(manager, 2)
    (second,) = [r for r in records if r.id != first.id]
    extra = await acquire(stub)
    assert extra.executor_id == second.id
    # At max_executors, a full pool stays as it is.
    with pytest.raises(grpc.aio.AioRpcError) as at_max:
        await acquire(stub)
    assert at_max.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len(pool_ids(manager)) == 2

    # Idle beyond min_executors for idle_timeout: one executor is stopped.
    pids = {r.id: pid_of(manager, r.id) for r in records}
    for lease in (busy, extra):
        await stub.ReleaseExecutor(pb.ReleaseExecutorRequest(lease_id=lease.lease_id))
    (kept,) = await ready_pool(manager, 1)
    (retired,) = [i for i in pids if i != kept.id]
    await wait_exited(pids[retired])
    await wait_state(manager, retired, ExecutorState.STOPPED)


async def test_hung_executor_is_restarted(manager: ExecutorManager) -> None:
    (before,) = await ready_pool(manager, 1)
    pid = pid_of(manager, before.id)
    psutil.Process(pid).suspend()
    try:
        await wait_state(manager, before.id, ExecutorState.UNHEALTHY)
        # After start_timeout unhealthy, the pool kills it (SIGTERM cannot
        # reach a stopped process; SIGKILL after the grace does) and starts it again.
        await wait_exited(pid)
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).resume()
    (after,) = await ready_pool(manager, 1)
    assert after.id == before.id
    assert pid_of(manager, after.id) != pid
