"""An executor-manager on loopback against the test database, and helpers.

The ``manager`` fixture is shared by the package's tests: its pool keeps one
real executor process (one slot) and may grow to two. Tests that need a
fleet of their own register *fake* executors: executors the test drives by
hand over the manager's real API, each test with a provider name of its own,
so that no other executor competes for their leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest
import pytest_asyncio

from ccplane.v1 import executor_manager_pb2 as pb
from ccplane.v1 import executor_manager_pb2_grpc
from common import ids
from executor_manager.app import ExecutorManager
from executor_manager.backends.local import LocalBackend
from executor_manager.config import ManagerConfig
from executor_manager.records import ExecutorRecord, ExecutorState
from tests.keys import internal_channel

REPO = Path(__file__).resolve().parents[3]
# The real executor process, as the pool starts it in production.
EXECUTOR_COMMAND = (sys.executable, "-m", "executor")
WAIT = 20.0


def local_backend(tmp: Path) -> LocalBackend:
    return LocalBackend(
        command=EXECUTOR_COMMAND,
        log_dir=tmp / "logs",
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "CCPLANE_LOG_FORMAT": "text"},
    )


def manager_config(data_dir: Path, **overrides: object) -> ManagerConfig:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "min_executors": 0,
        "max_executors": 0,
        "slots_per_executor": 1,
        "heartbeat_interval": 0.2,
        "heartbeat_timeout": 1.0,
        "sweep_interval": 0.1,
        "supervise_interval": 0.1,
        "start_timeout": 30.0,
        "stop_grace": 5.0,
        "idle_timeout": None,
        "restart_backoff_initial": 0.05,
        **overrides,
    }
    return ManagerConfig(**values)  # type: ignore[arg-type]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def manager(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ExecutorManager]:
    data_dir = tmp_path_factory.mktemp("executor-manager")
    config = manager_config(
        data_dir, min_executors=1, max_executors=2, idle_timeout=1.0, start_timeout=5.0, stop_grace=1.0
    )
    manager = ExecutorManager(config, db_url, backend=local_backend(data_dir))
    await manager.start("127.0.0.1", 0)
    try:
        yield manager
    finally:
        await manager.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def stub(
    manager: ExecutorManager,
) -> AsyncIterator[executor_manager_pb2_grpc.ExecutorManagerServiceStub]:
    async with internal_channel(manager.address) as channel:
        yield executor_manager_pb2_grpc.ExecutorManagerServiceStub(channel)


async def until(manager: ExecutorManager, predicate: Callable[[], Awaitable[bool]]) -> None:
    """Wait for ``predicate`` to hold, re-checking it whenever the fleet changes."""
    assert manager.fleet is not None
    async with asyncio.timeout(WAIT):
        await manager.fleet.changed.wait_for(predicate)


async def record_of(manager: ExecutorManager, executor_id: str) -> ExecutorRecord | None:
    assert manager.fleet is not None
    return (await manager.fleet.executors([executor_id])).get(executor_id)


async def wait_state(manager: ExecutorManager, executor_id: str, state: ExecutorState) -> ExecutorRecord:
    async def reached() -> bool:
        record = await record_of(manager, executor_id)
        return record is not None and record.state == state

    await until(manager, reached)
    record = await record_of(manager, executor_id)
    assert record is not None
    return record


def unique_provider() -> str:
    return f"test-provider-{secrets.token_hex(4)}"


def new_run_id() -> str:
    return ids.new_id(ids.RUN)


class FakeExecutor:
    """An executor played by the test over the manager's API (real gRPC, real
    database): it registers and heartbeats only when told to."""

    # Nothing listens there: the manager's direct Drain call fails fast.
    ADDRESS = "127.0.0.1:1"

    def __init__(
        self, stub: executor_manager_pb2_grpc.ExecutorManagerServiceStub, provider: str, slots: int = 2
    ) -> None:
        self.stub = stub
        self.provider = provider
        self.slots = slots
        self.id = ids.new_id(ids.EXECUTOR)

    async def register(self) -> pb.RegisterExecutorResponse:
        response: pb.RegisterExecutorResponse = await self.stub.RegisterExecutor(
            pb.RegisterExecutorRequest(
                executor_id=self.id,
                address=self.ADDRESS,
                slots_total=self.slots,
                providers=[self.provider],
                version="test",
                backend="external",
            )
        )
        return response

    async def heartbeat(self, slots_used: int = 0, draining: bool = False) -> pb.HeartbeatResponse:
        response: pb.HeartbeatResponse = await self.stub.Heartbeat(
            pb.HeartbeatRequest(executor_id=self.id, slots_used=slots_used, draining=draining)
        )
        return response


async def fake_fleet(
    stub: executor_manager_pb2_grpc.ExecutorManagerServiceStub, count: int, slots: int = 2
) -> list[FakeExecutor]:
    provider = unique_provider()
    fleet = [FakeExecutor(stub, provider, slots) for _ in range(count)]
    for fake in fleet:
        await fake.register()
    return fleet


class LeaseWatch:
    """A WatchLeases stream, subscribed before the test goes on."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[pb.WatchLeasesResponse] = asyncio.Queue()

    async def next_for(self, lease_id: str) -> pb.WatchLeasesResponse:
        """The next event about ``lease_id`` (others are skipped)."""
        async with asyncio.timeout(WAIT):
            while True:
                event = await self.events.get()
                if event.lease.lease_id == lease_id:
                    return event


@contextlib.asynccontextmanager
async def watching(
    manager: ExecutorManager, stub: executor_manager_pb2_grpc.ExecutorManagerServiceStub
) -> AsyncIterator[LeaseWatch]:
    assert manager.feed is not None
    feed = manager.feed
    before = feed.subscriber_count
    watch = LeaseWatch()
    call = stub.WatchLeases(pb.WatchLeasesRequest())

    async def pump() -> None:
        async for event in call:
            watch.events.put_nowait(event)

    task = asyncio.create_task(pump())
    try:
        async with asyncio.timeout(WAIT):
            await feed.subscribers_changed.wait_for(lambda: feed.subscriber_count > before)
        yield watch
    finally:
        call.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
            await task


async def wait_exited(pid: int) -> None:
    """Wait for process ``pid`` (any process, not only a child) to terminate."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def exited() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, exited)
    try:
        async with asyncio.timeout(WAIT):
            await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)
