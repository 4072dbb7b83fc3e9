"""The ``external`` backend as a Kubernetes Deployment uses it: the manager
starts nothing; executors started by their operator register, take leases,
are drained through the manager's API, and are forgotten once they are gone.

The manager has a database of its own, so that no other suite's executor
competes for the leases.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import pytest_asyncio

from ccplane.v1 import executor_manager_pb2 as pb
from ccplane.v1 import executor_manager_pb2_grpc, executor_pb2, executor_pb2_grpc
from common import ids
from executor_manager.app import ExecutorManager
from executor_manager.backends import LaunchSpec, ProcessState
from executor_manager.backends.external import ExternalBackend
from executor_manager.records import ExecutorState
from tests.integration.executor_manager.conftest import (
    manager_config,
    new_run_id,
    record_of,
    until,
    wait_state,
)
from tests.integration.executor_manager.operators import OperatorExecutor
from tests.keys import internal_channel

# Longer than the heartbeat timeout (1 s): STOPPED is seen before it is forgotten.
FORGET_AFTER = 3.0


@pytest_asyncio.fixture
async def external_manager(scratch_db_url: str, tmp_path: Path) -> AsyncIterator[ExecutorManager]:
    # A warm pool is asked for, and must not be kept: this backend starts nothing.
    config = manager_config(
        tmp_path / "manager", backend="external", min_executors=2, max_executors=4, forget_after=FORGET_AFTER
    )
    manager = ExecutorManager(config, scratch_db_url)
    await manager.start("127.0.0.1", 0)
    try:
        yield manager
    finally:
        await manager.stop()


def operator_spec(manager: ExecutorManager, tmp_path: Path) -> LaunchSpec:
    executor_id = ids.new_id(ids.EXECUTOR)
    return LaunchSpec(
        executor_id=executor_id,
        slots=1,
        manager_address=manager.address,
        data_dir=tmp_path / executor_id,
        labels={"deployment": "executors"},
    )


async def acquire(stub: executor_manager_pb2_grpc.ExecutorManagerServiceStub) -> pb.ExecutorLease:
    response = await stub.AcquireExecutor(
        pb.AcquireExecutorRequest(run_id=new_run_id(), tenant_id="t", provider="codex-app-server")
    )
    lease: pb.ExecutorLease = response.lease
    return lease


async def test_operator_started_executors_are_leased_drained_and_forgotten(
    external_manager: ExecutorManager, tmp_path: Path
) -> None:
    manager = external_manager
    assert manager.pool is not None and manager.fleet is not None
    backend = manager.pool.backend
    assert isinstance(backend, ExternalBackend)
    assert manager.pool.executor_ids == []
    assert await manager.fleet.census() == []

    specs = [operator_spec(manager, tmp_path), operator_spec(manager, tmp_path)]
    executors = [
        # One as in a pod: listening everywhere, advertising what
        # CCPLANE_EXECUTOR_ADVERTISE_HOST says (a pod IP, a service name).
        await OperatorExecutor.start(
            specs[0],
            tmp_path / "logs",
            host="0.0.0.0",
            env={"CCPLANE_EXECUTOR_ADVERTISE_HOST": "127.0.0.1"},
        ),
        await OperatorExecutor.start(specs[1], tmp_path / "logs"),
    ]
    try:
        first, second = [await wait_state(manager, s.executor_id, ExecutorState.READY) for s in specs]
        for record in (first, second):
            assert record.backend == "external"
            assert record.labels == {"deployment": "executors"}
            assert record.address.startswith("127.0.0.1:")
            assert record.metrics_address.startswith("127.0.0.1:")
        handles = [backend.watch(spec) for spec in specs]
        assert [(await backend.health(h)).state for h in handles] == [ProcessState.RUNNING] * 2

        async with internal_channel(manager.address) as channel:
            stub = executor_manager_pb2_grpc.ExecutorManagerServiceStub(channel)
            leases = [await acquire(stub), await acquire(stub)]
            assert sorted(lease.executor_id for lease in leases) == sorted(s.executor_id for s in specs)
            # Both full: the run waits; the manager starts nothing.
            with pytest.raises(grpc.aio.AioRpcError) as full:
                await acquire(stub)
            assert full.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert manager.pool.executor_ids == []

            # The operator wants the first one gone: drain it.
            leaving = next(lease for lease in leases if lease.executor_id == specs[0].executor_id)
            staying = next(lease for lease in leases if lease.executor_id == specs[1].executor_id)
            await stub.ReleaseExecutor(pb.ReleaseExecutorRequest(lease_id=leaving.lease_id))
            drained = await stub.DrainExecutor(pb.DrainExecutorRequest(executor_id=leaving.executor_id))
            assert drained.executor.state == pb.EXECUTOR_STATE_DRAINING
            async with internal_channel(first.address) as executor_channel:
                status = await executor_pb2_grpc.ExecutorServiceStub(executor_channel).GetStatus(
                    executor_pb2.GetStatusRequest()
                )
            assert status.draining
            # Its free slot is not offered any more.
            with pytest.raises(grpc.aio.AioRpcError) as drained_full:
                await acquire(stub)
            assert drained_full.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

            # Its operator stops it; the manager sees it gone, then forgets it.
            assert await executors[0].stop() == 0
            await wait_state(manager, specs[0].executor_id, ExecutorState.STOPPED)
            assert (await backend.health(handles[0])).state == ProcessState.EXITED

            async def forgotten() -> bool:
                return await record_of(manager, specs[0].executor_id) is None

            await until(manager, forgotten)
            assert (await backend.health(handles[0])).state == ProcessState.EXITED

            # The other one serves on.
            await stub.ReleaseExecutor(pb.ReleaseExecutorRequest(lease_id=staying.lease_id))
            assert (await acquire(stub)).executor_id == specs[1].executor_id
            remaining = await record_of(manager, specs[1].executor_id)
            assert remaining is not None and remaining.state == ExecutorState.READY
    finally:
        for executor in executors:
            await executor.kill()
