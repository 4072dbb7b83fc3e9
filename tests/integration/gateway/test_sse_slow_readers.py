"""SSE clients that stop reading: dropped after the write timeout, nobody else slowed, nothing lost.

The stalled client is a raw socket with a small receive buffer that reads the
response head and the first frame, then stops reading: the gateway's writes
fill the socket buffers and its next frame waits until the timeout drops the
connection.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest_asyncio

from ccplane.v1 import events_pb2
from common.db.engine import Database
from control_plane.app import ControlPlane
from control_plane.events.log import append_events
from gateway import Gateway
from gateway.server import STREAM_CHANNEL_OPTIONS
from tests.integration.gateway.conftest import CreateRun
from tests.integration.gateway.sse import Frame, events, frames, parse_frame

WRITE_TIMEOUT = 1.0
TIMEOUT = 30.0
EVENT_BYTES = 16 * 1024
# Other readers get each event within this, stall or no stall.
PROMPT_S = 2.0


@pytest_asyncio.fixture(loop_scope="session")
async def impatient(control_plane: ControlPlane) -> AsyncIterator[Gateway]:
    """A gateway that drops an SSE client after a second without a frame taken."""
    gw = Gateway(control_plane.address, stream_write_timeout=WRITE_TIMEOUT, first_event_grace=0.5)
    await gw.start("127.0.0.1", 0)
    try:
        yield gw
    finally:
        await gw.stop()


class StalledClient:
    """``GET`` an event stream on a raw socket, read the head, then stop reading."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, gateway: Gateway, path: str, key: str) -> StalledClient:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: fills fast
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (gateway.host, gateway.port))
        reader, writer = await asyncio.open_connection(sock=sock)
        request = f"GET {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {key}\r\n\r\n"
        writer.write(request.encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"transfer-encoding: chunked" in head.lower()
        writer.transport.pause_reading()
        return cls(reader, writer)

    async def wake_up(self) -> tuple[list[Frame], bool]:
        """Read what is left until the connection ends: the complete frames, and
        whether the response ended properly (its last chunk) or was cut."""
        self._writer.transport.resume_reading()
        body = b""
        try:
            while chunk := await self._reader.read(65536):
                body += chunk
        except ConnectionResetError:
            pass
        finally:
            self._writer.close()
        data, complete = dechunk(body)
        return [parse_frame(block) for block in data.decode().split("\n\n")[:-1]], complete


def dechunk(body: bytes) -> tuple[bytes, bool]:
    """The whole chunks of an HTTP/1.1 chunked body, and whether it had its last (empty) chunk."""
    data = b""
    while b"\r\n" in body:
        size_line, rest = body.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            return data, True
        if len(rest) < size + 2:
            break
        data, body = data + rest[:size], rest[size + 2 :]
    return data, False


def delta() -> events_pb2.RunEvent:
    return events_pb2.RunEvent(message_delta=events_pb2.MessageDelta(item_id="msg", delta="x" * EVENT_BYTES))


async def append_one(database: Database, run_id: str) -> int:
    async with database.session() as session, session.begin():
        (seq,) = await append_events(session, run_id, [delta()])
    return seq


async def follow(response: httpx.Response, into: asyncio.Queue[int]) -> None:
    async for frame in frames(response):
        if not frame.comment:
            await into.put(int(frame.id))


async def test_a_stalled_sse_client_is_dropped_and_resumes_without_loss(
    impatient: Gateway, create_run: CreateRun, database: Database, admin_key: str
) -> None:
    run_id = await create_run()  # queued: its stream stays open until it is stopped
    path = f"/api/runs/{run_id}/events"
    dropped_before = impatient.streams.dropped_slow_readers
    async with httpx.AsyncClient(
        base_url=impatient.url, timeout=TIMEOUT, headers={"authorization": f"Bearer {admin_key}"}
    ) as http:
        stalled = await StalledClient.open(impatient, path, admin_key)
        live: asyncio.Queue[int] = asyncio.Queue()
        async with http.stream("GET", path, headers={"Last-Event-ID": "1"}) as response:
            following = asyncio.create_task(follow(response, live))
            try:
                await impatient.streams.wait_until(lambda s: s.open == 2)
                dropped = asyncio.ensure_future(
                    impatient.streams.wait_until(lambda s: s.dropped_slow_readers > dropped_before)
                )
                latencies: list[float] = []
                async with asyncio.timeout(TIMEOUT):
                    while not dropped.done():
                        started = time.perf_counter()
                        seq = await append_one(database, run_id)
                        assert await live.get() == seq
                        latencies.append(time.perf_counter() - started)
                # The run went on while the client stalled, and so did the other reader.
                assert max(latencies) < PROMPT_S, latencies
                assert impatient.streams.open == 1, "the stalled client's upstream call is cancelled"
            finally:
                following.cancel()
                await asyncio.gather(following, return_exceptions=True)

        # The client wakes up: what was buffered, then the connection ends, cut.
        async with asyncio.timeout(TIMEOUT):
            seen, complete = await stalled.wake_up()
        assert not complete, "a dropped response is cut, not ended"
        ids = [int(f.id) for f in seen]
        assert ids == list(range(1, len(ids) + 1))
        assert len(ids) < len(latencies), "the client was dropped before it got the whole log"

        # Reconnecting with Last-Event-ID delivers the rest, each once.
        stopped = await http.post(f"/api/runs/{run_id}/stop", json={"reason": "enough"})
        assert stopped.status_code == 200, stopped.text
        async with (
            asyncio.timeout(TIMEOUT),
            http.stream("GET", path, headers={"Last-Event-ID": str(ids[-1])}) as resumed,
        ):
            rest = [int(f.id) for f in await events(resumed)]
    assert ids + rest == list(range(1, rest[-1] + 1))


class Firehose:
    """A gRPC server whose one stream writes 2 MiB as fast as its reader lets it."""

    TOTAL = 2 * 1024 * 1024
    MESSAGE = 8 * 1024

    def __init__(self) -> None:
        self.written = 0
        self.finished = asyncio.Event()
        self.server = grpc.aio.server()
        handler = grpc.unary_stream_rpc_method_handler(self._stream)
        self.server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("test.Firehose", {"Stream": handler})]
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    async def _stream(self, request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        while self.written < self.TOTAL:
            yield b"x" * self.MESSAGE
            self.written += self.MESSAGE  # the transport took it
        self.finished.set()


async def test_the_stream_channel_holds_little_for_a_stalled_call() -> None:
    """The gateway's upstream channel for streams keeps a call's window at 64 KiB: a
    call whose SSE client stalled holds that much in the gateway, not MiBs."""
    for options, stalls in ((STREAM_CHANNEL_OPTIONS, True), ([], False)):
        firehose = Firehose()
        await firehose.server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{firehose.port}", options=options) as channel:
                call = channel.unary_stream("/test.Firehose/Stream")(b"")
                async with asyncio.timeout(TIMEOUT):
                    await call.initial_metadata()
                if stalls:
                    # Nobody reads for a second: the server gets only as far as the window lets it.
                    await asyncio.sleep(1.0)
                    assert firehose.written <= 256 * 1024, f"{firehose.written} bytes went ahead"
                else:
                    # An auto-tuned window takes all 2 MiB without a single read.
                    async with asyncio.timeout(TIMEOUT):
                        await firehose.finished.wait()
                async with asyncio.timeout(TIMEOUT):
                    received = sum([len(message) async for message in call])
                assert received == Firehose.TOTAL
        finally:
            await firehose.server.stop(grace=0)
