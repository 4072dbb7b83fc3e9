"""The internal credential between services: the executor-manager and its
executors accept it and nothing else; the manager hands its own to the
executors it starts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from ccplane.v1 import executor_manager_pb2 as pb
from ccplane.v1 import executor_manager_pb2_grpc, executor_pb2, executor_pb2_grpc
from common.credentials import authorized_channel
from common.db.engine import Database
from executor_manager.app import ExecutorManager
from tests.integration.executor_manager.conftest import WAIT, local_backend, manager_config
from tests.keys import INTERNAL_TOKEN, create_key


@pytest.mark.parametrize("credential", ["none", "user-key", "other-token"])
async def test_the_manager_refuses_anything_but_the_internal_token(
    manager: ExecutorManager, database: Database, credential: str
) -> None:
    if credential == "none":
        channel = grpc.aio.insecure_channel(manager.address)
    else:
        token = await create_key(database) if credential == "user-key" else "cci_someone-elses"
        channel = authorized_channel(manager.address, token)
    async with channel:
        stub = executor_manager_pb2_grpc.ExecutorManagerServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ListExecutors(pb.ListExecutorsRequest())
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as watch_err:
            async for _ in stub.WatchLeases(pb.WatchLeasesRequest()):
                break
        assert watch_err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_executors_started_by_a_manager_use_its_token(db_url: str, tmp_path: Path) -> None:
    """A manager configured with a token other than the environment's: its
    executors register (so they got its token), and answer only to it."""
    token = "cci_manager-own-" + "x" * 24
    assert token != INTERNAL_TOKEN
    config = manager_config(tmp_path, min_executors=1, max_executors=1, internal_token=token)
    manager = ExecutorManager(config, db_url, backend=local_backend(tmp_path))
    await manager.start("127.0.0.1", 0)
    try:
        async with authorized_channel(manager.address, token) as channel:
            stub = executor_manager_pb2_grpc.ExecutorManagerServiceStub(channel)
            async with asyncio.timeout(WAIT):
                while True:
                    listed = (await stub.ListExecutors(pb.ListExecutorsRequest())).executors
                    assert manager.pool is not None
                    ours = set(manager.pool.executor_ids)
                    ready = [e for e in listed if e.id in ours and e.state == pb.EXECUTOR_STATE_READY]
                    if ready:
                        break
                    await asyncio.sleep(0.1)
        address = ready[0].address
        async with authorized_channel(address, token) as channel:
            status = await executor_pb2_grpc.ExecutorServiceStub(channel).GetStatus(
                executor_pb2.GetStatusRequest()
            )
            assert status.executor_id == ready[0].id
        async with authorized_channel(address, INTERNAL_TOKEN) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await executor_pb2_grpc.ExecutorServiceStub(channel).GetStatus(
                    executor_pb2.GetStatusRequest()
                )
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await manager.stop()
