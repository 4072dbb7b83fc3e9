"""deliver(): the write timeout counts one write at a time, never idle time, and a drop cleans up.

A task stands in for grpc.aio's handler loop (take a message, write it,
take the next), with writes as slow as each test needs; the servicer
context is a stand-in that records the status it is asked to end with.
The integration tests (tests/integration/streams/test_slow_readers.py)
do the same over real gRPC.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import grpc
from google.rpc import error_details_pb2, status_pb2

from control_plane.events.delivery import READER_TOO_SLOW, deliver

WRITE_TIMEOUT = 0.3
TIMEOUT = 5.0


class StandInContext:
    def __init__(self) -> None:
        self.statuses: list[grpc.Status] = []

    def peer(self) -> str:
        return "ipv4:127.0.0.1:50000"

    async def abort_with_status(self, status: grpc.Status) -> None:
        self.statuses.append(status)
        raise grpc.aio.AbortError()


class Source:
    """Messages 1..count, ``gap`` seconds apart; remembers whether it was closed."""

    def __init__(self, count: int, gap: float = 0.0) -> None:
        self.count = count
        self.gap = gap
        self.closed = False

    async def messages(self) -> AsyncGenerator[int, None]:
        try:
            for n in range(1, self.count + 1):
                if self.gap:
                    await asyncio.sleep(self.gap)
                yield n
        finally:
            self.closed = True


async def handler_loop(messages: AsyncGenerator[int, None], write_s: float, written: list[int]) -> None:
    """What grpc.aio does with a streaming handler: write each message before taking the next."""
    async for message in messages:
        if write_s == float("inf"):
            await asyncio.Event().wait()  # the reader never takes it
        await asyncio.sleep(write_s)
        written.append(message)


async def test_slow_writes_each_within_the_timeout_are_not_dropped() -> None:
    context = StandInContext()
    source = Source(6)
    written: list[int] = []
    # 6 writes of half the timeout: the stream takes longer than the timeout, no write does.
    stream = deliver(source.messages(), context, WRITE_TIMEOUT, "after_seq")
    async with asyncio.timeout(TIMEOUT):
        await handler_loop(stream, WRITE_TIMEOUT / 2, written)
    assert written == [1, 2, 3, 4, 5, 6]
    assert context.statuses == []
    assert source.closed


async def test_waiting_for_events_is_not_a_slow_write() -> None:
    context = StandInContext()
    source = Source(3, gap=WRITE_TIMEOUT * 1.5)  # an idle run: long gaps, quick writes
    written: list[int] = []
    stream = deliver(source.messages(), context, WRITE_TIMEOUT, "after_seq")
    async with asyncio.timeout(TIMEOUT):
        await handler_loop(stream, 0, written)
    assert written == [1, 2, 3]
    assert context.statuses == []


async def test_a_write_that_never_completes_drops_the_reader() -> None:
    context = StandInContext()
    source = Source(100)
    written: list[int] = []

    async def call() -> None:
        messages = deliver(source.messages(), context, WRITE_TIMEOUT, "after_version")
        try:
            await handler_loop(messages, float("inf"), written)
        finally:
            await messages.aclose()  # grpc leaves this to the garbage collector

    task = asyncio.create_task(call())
    async with asyncio.timeout(TIMEOUT):
        await asyncio.wait({task})
    assert task.cancelled(), "the drop cancels the call's task"
    assert written == []
    (status,) = context.statuses
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "after_version" in status.details
    assert source.closed, "the events' generator is closed: its page and subscription are released"
    (details,) = [v for k, v in status.trailing_metadata if k == "grpc-status-details-bin"]
    info = error_details_pb2.ErrorInfo()
    status_pb2.Status.FromString(details).details[0].Unpack(info)
    assert (info.reason, info.metadata["resume_with"]) == (READER_TOO_SLOW, "after_version")
