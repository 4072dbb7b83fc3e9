"""executor.registration.Registration against a real manager, with an
executor running in the test process (no extra process to spawn)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from sqlalchemy import delete, update

from ccplane.v1 import executor_manager_pb2 as pb
from ccplane.v1 import executor_manager_pb2_grpc, executor_pb2, executor_pb2_grpc
from common import ids
from common.db import models
from executor.app import Executor, default_advertise_host
from executor.registration import Registration, labels_from_env
from executor.sessions import HostConfig
from executor_manager.app import ExecutorManager
from executor_manager.records import ExecutorState
from tests.integration.executor_manager.conftest import (
    WAIT,
    manager_config,
    record_of,
    until,
    wait_state,
)
from tests.keys import internal_channel


@pytest_asyncio.fixture
async def executor(tmp_path: Path) -> AsyncIterator[Executor]:
    executor = Executor(HostConfig(executor_id=ids.new_id(ids.EXECUTOR), data_dir=tmp_path / "exe", slots=2))
    await executor.start("127.0.0.1", 0)
    try:
        yield executor
    finally:
        await executor.stop()


def registration(executor: Executor, manager_address: str) -> Registration:
    return Registration(
        executor, manager_address, labels={"zone": "test"}, version="9.9", retry_initial=0.05, retry_max=0.2
    )


async def test_registers_heartbeats_and_says_goodbye(manager: ExecutorManager, executor: Executor) -> None:
    reg = registration(executor, manager.address)
    await reg.start()
    try:
        first = await wait_state(manager, reg.executor_id, ExecutorState.READY)
        assert first.address == executor.address
        assert list(first.providers) == executor.host.registry.names()
        assert (first.slots_total, first.labels, first.version, first.backend) == (
            2,
            {"zone": "test"},
            "9.9",
            "external",
        )

        async def heartbeat_seen() -> bool:
            record = await record_of(manager, reg.executor_id)
            return record is not None and record.last_heartbeat_at > first.last_heartbeat_at

        await until(manager, heartbeat_seen)
    finally:
        await reg.stop()
    # Its last heartbeat says it is draining: no lease goes its way any more.
    last = await record_of(manager, reg.executor_id)
    assert last is not None and last.state == ExecutorState.DRAINING


async def test_registers_again_when_forgotten_and_drains_when_told(
    manager: ExecutorManager, executor: Executor
) -> None:
    assert manager.db is not None
    reg = registration(executor, manager.address)
    await reg.start()
    try:
        await wait_state(manager, reg.executor_id, ExecutorState.READY)
        async with manager.db.session() as session, session.begin():
            await session.execute(delete(models.Executor).where(models.Executor.id == reg.executor_id))
        # The next heartbeat hears known=false and registers again.
        await wait_state(manager, reg.executor_id, ExecutorState.READY)
        assert reg.registrations == 2

        # Drained elsewhere (another replica, an operator): the heartbeat says so.
        async with manager.db.session() as session, session.begin():
            await session.execute(
                update(models.Executor).where(models.Executor.id == reg.executor_id).values(state="draining")
            )
        await until(manager, _returns(lambda: executor.host.draining))
    finally:
        await reg.stop()


async def test_drain_executor_reaches_the_executor_directly(
    manager: ExecutorManager, executor: Executor
) -> None:
    reg = registration(executor, manager.address)
    await reg.start()
    try:
        await wait_state(manager, reg.executor_id, ExecutorState.READY)
        assert manager.fleet is not None
        record = await manager.fleet.drain(reg.executor_id)
        assert record.state == ExecutorState.DRAINING
        # Drained before any heartbeat could carry it.
        assert executor.host.draining
        async with internal_channel(executor.address) as channel:
            status = await executor_pb2_grpc.ExecutorServiceStub(channel).GetStatus(
                executor_pb2.GetStatusRequest()
            )
        assert status.draining
    finally:
        await reg.stop()


async def test_registers_again_after_the_manager_restarts(
    db_url: str, executor: Executor, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = manager_config(tmp_path / "manager")
    first = ExecutorManager(config, db_url)
    await first.start("127.0.0.1", port)
    reg = registration(executor, first.address)
    await reg.start()
    second: ExecutorManager | None = None
    try:
        await wait_state(first, reg.executor_id, ExecutorState.READY)
        await first.stop()
        async with asyncio.timeout(WAIT):
            await reg.manager_unreachable.wait()
        second = ExecutorManager(config, db_url)
        await second.start("127.0.0.1", port)
        # Heartbeats failed meanwhile; the executor registers with the new manager.
        await until(second, _returns(lambda: reg.registrations >= 2))
        await wait_state(second, reg.executor_id, ExecutorState.READY)
    finally:
        await reg.stop()
        if second is not None:
            await second.stop()


async def test_an_executor_listening_everywhere_registers_the_host_it_advertises(
    manager: ExecutorManager, tmp_path: Path
) -> None:
    # As in a pod: every interface, and CCPLANE_EXECUTOR_ADVERTISE_HOST (the pod IP).
    executor = Executor(
        HostConfig(executor_id=ids.new_id(ids.EXECUTOR), data_dir=tmp_path / "exe", slots=1),
        advertise_host="127.0.0.1",
    )
    await executor.start("0.0.0.0", 0)
    reg = registration(executor, manager.address)
    try:
        await reg.start()
        record = await wait_state(manager, reg.executor_id, ExecutorState.READY)
        assert executor.listen_address.startswith("0.0.0.0:")
        assert record.address == executor.address == f"127.0.0.1:{executor.address.rsplit(':', 1)[1]}"
        assert record.metrics_address.startswith("127.0.0.1:")
        # The manager dials it there (its Drain call).
        assert manager.fleet is not None
        await manager.fleet.drain(reg.executor_id)
        assert executor.host.draining
    finally:
        await reg.stop()
        await executor.stop()


def test_the_default_advertised_host_is_never_a_wildcard() -> None:
    assert default_advertise_host("127.0.0.1") == "127.0.0.1"
    assert default_advertise_host("10.1.2.3") == "10.1.2.3"
    for everywhere in ("0.0.0.0", "::", ""):
        assert default_advertise_host(everywhere) not in ("0.0.0.0", "::", "")


@pytest.mark.parametrize("address", ["0.0.0.0:5006", "[::]:5006"])
async def test_a_wildcard_address_is_refused(
    stub: executor_manager_pb2_grpc.ExecutorManagerServiceStub, address: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.RegisterExecutor(
            pb.RegisterExecutorRequest(
                executor_id=ids.new_id(ids.EXECUTOR), address=address, slots_total=1, providers=["p"]
            )
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (refused.value.details() or "").startswith("address: ")


def test_labels_from_env() -> None:
    assert labels_from_env("zone=a, pool = warm,broken,=x") == {"zone": "a", "pool": "warm"}


def _returns(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def predicate() -> bool:
        return bool(check())

    return predicate
