"""Readers that stop reading, over real gRPC: dropped after the write timeout, nobody else slowed.

RunService is served here the way the control plane serves it (the auth
interceptor, RunServicer, the shared error interceptor) with a write timeout
of one second. A stalled client is a call whose messages nobody reads: the
server writes until the stream's HTTP/2 window is full, then its next write
waits until the timeout drops the reader.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ccplane.v1 import events_pb2, runs_pb2, runs_pb2_grpc
from common.credentials import authorized_channel
from common.db.engine import Database
from common.grpc_server import GrpcServer, ServiceRegistration
from common.settings import Settings
from control_plane.auth import DEFAULT_TENANT
from control_plane.events.delivery import READER_TOO_SLOW
from control_plane.events.feed import EventFeed
from control_plane.events.log import append_events
from control_plane.runs.servicer import RunServicer
from control_plane.runs.state_machine import RunStatus
from tests.conftest import RunFactory
from tests.integration.streams.conftest import move
from tests.keys import auth_interceptor, create_key

WRITE_TIMEOUT = 1.0
# A stalled reader fills its window (a few MiB as grpc auto-tunes it) and is
# dropped a second later; everything here is bounded by this.
TIMEOUT = 30.0
# Large events fill a window in a few hundred messages.
EVENT_BYTES = 64 * 1024
# Other readers get each event within this, stall or no stall.
PROMPT_S = 2.0


@dataclass
class Server:
    stub: runs_pb2_grpc.RunServiceStub
    address: str
    key: str


@pytest_asyncio.fixture(loop_scope="session")
async def server(database: Database, feed: EventFeed) -> AsyncIterator[Server]:
    settings = Settings()
    settings.stream_write_timeout = WRITE_TIMEOUT
    grpc_server = GrpcServer(
        [
            ServiceRegistration(
                "ccplane.v1.RunService",
                RunServicer(database, settings, feed),
                runs_pb2_grpc.add_RunServiceServicer_to_server,
            )
        ],
        interceptors=[auth_interceptor(database)],
    )
    await grpc_server.start()
    key = await create_key(database, DEFAULT_TENANT, "admin")
    try:
        async with authorized_channel(grpc_server.address, key) as channel:
            yield Server(runs_pb2_grpc.RunServiceStub(channel), grpc_server.address, key)
    finally:
        await grpc_server.stop(grace=0)


def big_delta() -> events_pb2.RunEvent:
    return events_pb2.RunEvent(message_delta=events_pb2.MessageDelta(item_id="msg", delta="x" * EVENT_BYTES))


async def append_one(database: Database, run_id: str) -> int:
    async with database.session() as session, session.begin():
        (seq,) = await append_events(session, run_id, [big_delta()])
    return seq


async def follow(call: AsyncIterator[events_pb2.RunEvent], into: asyncio.Queue[int]) -> None:
    async for event in call:
        await into.put(event.seq)


def reason_of(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    raise AssertionError("no ErrorInfo")


async def drain(call: AsyncIterator[events_pb2.RunEvent]) -> tuple[list[int], grpc.aio.AioRpcError | None]:
    """Everything the call still delivers, and the error it ends with (None: it ended OK)."""
    seqs: list[int] = []
    try:
        async for event in call:
            seqs.append(event.seq)
    except grpc.aio.AioRpcError as error:
        return seqs, error
    return seqs, None


class LiveReader:
    """A reader that keeps up: every seq it receives, as it arrives."""

    def __init__(self, stub: runs_pb2_grpc.RunServiceStub, run_id: str, after_seq: int) -> None:
        self.seqs: asyncio.Queue[int] = asyncio.Queue()
        call = stub.StreamRunEvents(runs_pb2.StreamRunEventsRequest(run_id=run_id, after_seq=after_seq))
        self.task = asyncio.create_task(follow(call, self.seqs))

    async def expect(self, seq: int) -> None:
        async with asyncio.timeout(TIMEOUT):
            got = await self.seqs.get()
        assert got == seq

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def write_until_dropped(
    database: Database, feed: EventFeed, run_id: str, readers_left: int, live: list[LiveReader]
) -> list[float]:
    """Append large events one at a time, each awaited at every ``live``
    reader, until the run has ``readers_left`` readers in this process (the
    stalled one left); each event's latency."""
    loop = asyncio.get_running_loop()
    dropped = asyncio.ensure_future(feed.wait_readers(run_id, readers_left))
    latencies: list[float] = []
    try:
        async with asyncio.timeout(TIMEOUT):
            while not dropped.done():
                started = loop.time()
                seq = await append_one(database, run_id)
                for reader in live:
                    await reader.expect(seq)
                latencies.append(loop.time() - started)
    finally:
        dropped.cancel()
    return latencies


async def test_a_stalled_reader_is_dropped_and_resumes_without_loss(
    server: Server, database: Database, feed: EventFeed, make_run: RunFactory
) -> None:
    run_id = await make_run("running", tenant_id=DEFAULT_TENANT)
    await append_one(database, run_id)
    stalled = server.stub.StreamRunEvents(runs_pb2.StreamRunEventsRequest(run_id=run_id))
    async with asyncio.timeout(TIMEOUT):
        await stalled.initial_metadata()  # it is open: the first event was written
    # Another reader of the same run on the same connection, and one on its own.
    same_connection = LiveReader(server.stub, run_id, 1)
    async with authorized_channel(server.address, server.key) as own:
        own_connection = LiveReader(runs_pb2_grpc.RunServiceStub(own), run_id, 1)
        try:
            async with asyncio.timeout(TIMEOUT):
                await feed.wait_readers(run_id, 3)
            latencies = await write_until_dropped(
                database, feed, run_id, 2, [same_connection, own_connection]
            )
            # The run went on while the reader stalled, and so did the others.
            assert max(latencies) < PROMPT_S, latencies
            assert not stalled.done(), "the stalled client has not read anything yet"

            # The client wakes up: what was in flight, then why the stream ended.
            async with asyncio.timeout(TIMEOUT):
                seen, error = await drain(stalled)
            assert error is not None, "a stalled reader must be dropped"
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert reason_of(error) == READER_TOO_SLOW
            assert "after_seq" in (error.details() or "")
            assert seen == list(range(1, len(seen) + 1))
            assert len(seen) < len(latencies), "the reader was dropped before it got the whole log"

            # Resuming from the last seq seen delivers the rest, each once.
            final = await move(database, run_id, RunStatus.SUCCEEDED)
            resumed = server.stub.StreamRunEvents(
                runs_pb2.StreamRunEventsRequest(run_id=run_id, after_seq=seen[-1])
            )
            async with asyncio.timeout(TIMEOUT):
                rest, error = await drain(resumed)
            assert error is None
            assert seen + rest == list(range(1, final + 1))
        finally:
            await same_connection.close()
            await own_connection.close()


async def test_a_stalled_connect_reader_is_dropped_and_resumes_without_loss(
    server: Server, database: Database, feed: EventFeed, make_run: RunFactory
) -> None:
    run_id = await make_run("running", tenant_id=DEFAULT_TENANT)
    await append_one(database, run_id)
    requests: asyncio.Queue[runs_pb2.ConnectRequest] = asyncio.Queue()
    await requests.put(runs_pb2.ConnectRequest(subscribe=runs_pb2.ConnectSubscribe(run_id=run_id)))

    async def send() -> AsyncIterator[runs_pb2.ConnectRequest]:
        while True:
            yield await requests.get()

    stalled = server.stub.Connect(send())
    live = LiveReader(server.stub, run_id, 1)
    try:
        async with asyncio.timeout(TIMEOUT):
            await feed.wait_readers(run_id, 2)
        latencies = await write_until_dropped(database, feed, run_id, 1, [live])
        assert max(latencies) < PROMPT_S, latencies
        seen: list[int] = []
        async with asyncio.timeout(TIMEOUT):
            try:
                async for response in stalled:
                    seen.append(response.event.seq)
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "subscribe.after_seq" in (error.details() or "")
            else:
                raise AssertionError("a stalled Connect reader must be dropped")
        assert seen == list(range(1, len(seen) + 1))
        final = await move(database, run_id, RunStatus.CANCELED)
        resumed = server.stub.StreamRunEvents(
            runs_pb2.StreamRunEventsRequest(run_id=run_id, after_seq=seen[-1])
        )
        async with asyncio.timeout(TIMEOUT):
            rest, error = await drain(resumed)
        assert error is None
        assert seen + rest == list(range(1, final + 1))
    finally:
        await live.close()
