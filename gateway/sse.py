"""Server-streaming RPCs as Server-Sent Events.

Each streamed message is one frame::

    id: <seq>
    event: <type>
    data: <proto3 JSON of the message>

``data:`` is what Envoy's transcoder writes with
``stream_sse_style_delimited``; ``id:`` and ``event:`` are extra lines any
SSE client may ignore. Which field is the ``id`` is read from the contract:
a request field ``after_<x>`` (the resume cursor) pairs with a response field
``<x>`` (``after_seq``/``seq`` for run events, ``after_version``/``version``
for todo versions). ``Last-Event-ID`` fills the cursor when the query does
not set it, so an ``EventSource`` that reconnects resumes where it stopped.

The HTTP status waits for the first message (or a short grace), so a stream
that fails at once (unknown run, bad id) is an ordinary JSON error with the
mapped status. A failure after that is an ``event: error`` frame carrying
the ``google.rpc.Status``. Idle streams get ``: keep-alive`` comments. A
client that goes away cancels the upstream call.

A client that stops reading is dropped. Frames are relayed one at a time,
with no queue in between: the gateway reads the next message from the
upstream call only once the HTTP server took the previous frame, and the
server takes one only while its write buffer is below its high-water mark.
So a stalled client holds at most that buffer here, plus the upstream
stream's HTTP/2 window (kept small, see :class:`gateway.server.Gateway`).
When one frame waits longer than ``write_timeout``, the upstream call is
cancelled and the connection aborted (not closed: a close would wait for
the buffered bytes to drain for ever); the client reconnects with
``Last-Event-ID`` and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from starlette.types import Message as AsgiMessage
from starlette.types import Receive, Send

from gateway.errors import error_headers, http_status, status_from_rpc_error, status_json
from gateway.transcode import message_to_json

log = logging.getLogger(__name__)

KEEPALIVE_FRAME = b": keep-alive\n\n"
SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
# Event names of streams whose messages carry no `type` field.
FIXED_EVENT_NAMES = {
    "ccplane.v1.StreamTodoEventsResponse": "todos.updated",
    "ccplane.v1.StreamRequestsResponse": "human_loop.request",
}
_CURSOR_PREFIX = "after_"
# ASGI scope extension holding a callable that aborts the request's
# connection (our uvicorn protocol sets it; see gateway.server).
ABORT_EXTENSION = "ccplane.connection.abort"


@dataclass(frozen=True)
class StreamShape:
    """How one streaming method's messages become SSE frames."""

    cursor: FieldDescriptor | None  # request field Last-Event-ID resumes (after_seq)
    event_id: FieldDescriptor | None  # response field written as `id:` (seq)
    event_type: FieldDescriptor | None  # response field written as `event:` (type)
    fixed_event: str = ""


def stream_shape(method: MethodDescriptor) -> StreamShape:
    response = method.output_type
    cursor = event_id = None
    for fd in method.input_type.fields:
        if fd.name.startswith(_CURSOR_PREFIX) and not fd.is_repeated:
            paired = response.fields_by_name.get(fd.name.removeprefix(_CURSOR_PREFIX))
            if paired is not None and paired.cpp_type == fd.cpp_type:
                cursor, event_id = fd, paired
                break
    event_type = response.fields_by_name.get("type")
    if event_type is not None and event_type.type != FieldDescriptor.TYPE_STRING:
        event_type = None
    return StreamShape(cursor, event_id, event_type, FIXED_EVENT_NAMES.get(response.full_name, ""))


def frame(message: Message, shape: StreamShape, pool: descriptor_pool.DescriptorPool) -> bytes:
    lines: list[bytes] = []
    if shape.event_id is not None:
        value = getattr(message, shape.event_id.name)
        if value:
            lines.append(b"id: %d" % value)
    name = getattr(message, shape.event_type.name) if shape.event_type is not None else shape.fixed_event
    if name:
        lines.append(b"event: " + _one_line(name).encode())
    lines.append(b"data: " + message_to_json(message, pool))
    return b"\n".join(lines) + b"\n\n"


def error_frame(body: bytes) -> bytes:
    return b"event: error\ndata: " + body + b"\n\n"


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


class StreamRegistry:
    """The upstream streaming calls the gateway holds open.

    Shutdown cancels them all (an SSE response otherwise never ends);
    ``wait_until`` lets a caller wait for a condition on the registry
    without polling.
    """

    def __init__(self) -> None:
        self.calls: set[Any] = set()
        self.cancelled_by_client = 0
        self.dropped_slow_readers = 0
        self._changed = asyncio.Condition()

    @property
    def open(self) -> int:
        return len(self.calls)

    async def opened(self, call: Any) -> None:
        async with self._changed:
            self.calls.add(call)
            self._changed.notify_all()

    async def closed(self, call: Any, *, cancelled_by_client: bool, dropped_slow: bool = False) -> None:
        async with self._changed:
            self.calls.discard(call)
            self.cancelled_by_client += cancelled_by_client
            self.dropped_slow_readers += dropped_slow
            self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[StreamRegistry], bool]) -> None:
        """Wait until ``predicate(self)`` holds; bound it with ``asyncio.timeout``."""
        async with self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    def cancel_all(self) -> None:
        for call in list(self.calls):
            call.cancel()


@dataclass(frozen=True)
class StreamOptions:
    keepalive_interval: float = 15.0
    # How long the response status waits for the first message.
    first_event_grace: float = 1.0
    # How long one frame may wait for the client to read before it is dropped.
    write_timeout: float = 30.0


class ReaderTooSlow(Exception):
    """The client took no frame for ``write_timeout`` seconds."""


async def _write(send: Send, message: AsgiMessage, limit: float) -> None:
    # uvicorn waits for its write buffer to drain before it writes anything,
    # so a send cut short here has written nothing: no half frame.
    try:
        async with asyncio.timeout(limit):
            await send(message)
    except TimeoutError:
        raise ReaderTooSlow from None


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _cancel(task: asyncio.Future[Any] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def serve_stream(  # noqa: PLR0917 - one call site, every argument distinct
    call: Any,
    shape: StreamShape,
    pool: descriptor_pool.DescriptorPool,
    receive: Receive,
    send: Send,
    options: StreamOptions,
    registry: StreamRegistry,
    abort_connection: Callable[[], None] | None = None,
) -> int:
    """Relay ``call`` (a started grpc.aio unary-stream call) as SSE; return the HTTP status sent.

    ``abort_connection`` drops the client's connection (the scope's
    :data:`ABORT_EXTENSION`); without it a client that stops reading is left
    to the HTTP server once its frame times out.
    """
    await registry.opened(call)
    client_gone = asyncio.ensure_future(_disconnected(receive))
    first: asyncio.Future[Any] = asyncio.ensure_future(call.read())
    reader: asyncio.Future[Any] | None = first
    by_client = dropped = False
    try:
        done, _ = await asyncio.wait(
            {first, client_gone}, timeout=options.first_event_grace, return_when=asyncio.FIRST_COMPLETED
        )
        if client_gone in done:
            by_client = True
            return 499
        first_error = first.exception() if first in done and not first.cancelled() else None
        if isinstance(first_error, grpc.aio.AioRpcError):
            status = status_from_rpc_error(first_error)
            body = status_json(status, pool)
            code = http_status(status.code)
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
                *error_headers(status),
            ]
            await send({"type": "http.response.start", "status": code, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return code
        timeout = options.write_timeout
        await _write(send, {"type": "http.response.start", "status": 200, "headers": SSE_HEADERS}, timeout)
        while True:
            if reader is None:
                reader = asyncio.ensure_future(call.read())
            done, _ = await asyncio.wait(
                {reader, client_gone}, timeout=options.keepalive_interval, return_when=asyncio.FIRST_COMPLETED
            )
            if client_gone in done:
                by_client = True
                break
            if reader not in done:
                await _write(send, _body(KEEPALIVE_FRAME), timeout)
                continue
            if reader.cancelled():
                break
            error = reader.exception()
            if isinstance(error, grpc.aio.AioRpcError):
                chunk = error_frame(status_json(status_from_rpc_error(error), pool))
                await _write(send, _body(chunk), timeout)
                break
            if error is not None:
                raise error
            item = reader.result()
            reader = None
            if item is grpc.aio.EOF:
                break
            await _write(send, _body(frame(item, shape, pool)), timeout)
        if not by_client:
            await _write(send, {"type": "http.response.body", "body": b""}, timeout)
        return 200
    except ReaderTooSlow:
        dropped = True
        log.warning(
            "dropped an event-stream client that took no frame",
            extra={"write_timeout_s": options.write_timeout},
        )
        if abort_connection is not None:
            abort_connection()
        return 200
    finally:
        if not call.done():
            call.cancel()
        await _cancel(reader)
        await _cancel(client_gone)
        await registry.closed(call, cancelled_by_client=by_client, dropped_slow=dropped)


def _body(chunk: bytes) -> AsgiMessage:
    return {"type": "http.response.body", "body": chunk, "more_body": True}
