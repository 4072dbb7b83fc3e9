"""Handing a server stream's messages to its gRPC reader, and dropping a reader that stops taking them.

grpc.aio writes each message a streaming handler yields before it asks for
the next one, and a write completes only once HTTP/2 flow control lets the
bytes out. A reader that stops reading fills its stream's window (from
64 KiB to the few MiB an auto-tuned window allows, as its side announces)
and the next write then waits for ever. Nothing else waits with it: the log
is read page by page with no session held across a yield, and a run's
writers never wait for its readers. But the handler, the page of events it
holds and its wake-up subscription would stay for as long as the client
keeps the call open.

:func:`deliver` bounds that wait. When one write has waited
``write_timeout`` seconds the call ends with RESOURCE_EXHAUSTED
``STREAM_READER_TOO_SLOW``, and the handler is cancelled at once, releasing
what it held. The status goes out behind the messages already in flight
(HTTP/2 sends trailers after the data), so a reader that wakes up drains
those first and then learns why the stream ended; it resumes from the last
message it received (``after_seq``, ``after_version``) and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import TypeVar

import grpc
from grpc_status import rpc_status

from common.errors import ServiceError, resource_exhausted

log = logging.getLogger(__name__)

T = TypeVar("T")

READER_TOO_SLOW = "STREAM_READER_TOO_SLOW"


def reader_too_slow(write_timeout: float, cursor_field: str) -> ServiceError:
    """The status a dropped reader gets: which cursor to resume with."""
    return resource_exhausted(
        READER_TOO_SLOW,
        f"the stream's reader took no message for {write_timeout:g} s and was dropped; "
        f"open the stream again with {cursor_field} set to the last one received",
        resume_with=cursor_field,
    )


async def deliver(
    messages: AsyncGenerator[T, None],
    context: grpc.aio.ServicerContext,
    write_timeout: float,
    cursor_field: str,
) -> AsyncGenerator[T, None]:
    """Yield ``messages``; end the call when gRPC takes longer than ``write_timeout`` to write one.

    Iterate it in the call's own task (a streaming handler does), since that
    is the task a drop cancels. ``cursor_field`` names the request field the
    reader resumes with, for the status message.
    """
    watch = _WriteWatch(context, write_timeout, reader_too_slow(write_timeout, cursor_field))
    try:
        async with contextlib.aclosing(messages):
            async for message in messages:
                watch.writing()
                yield message
                watch.written()
    finally:
        await watch.close()


class _WriteWatch:
    """Times the write in progress; drops the reader when one takes too long.

    One task per stream, started with its first write, that sleeps until the
    write in progress (if any) would be due: about one wake-up per
    ``timeout`` seconds however many messages flow.
    """

    def __init__(self, context: grpc.aio.ServicerContext, timeout: float, error: ServiceError) -> None:
        self._context = context
        self._timeout = timeout
        self._error = error
        self._loop = asyncio.get_running_loop()
        self._call_task = asyncio.current_task()
        self._since: float | None = None  # when the write in progress began
        self._task: asyncio.Task[None] | None = None

    def writing(self) -> None:
        self._since = self._loop.time()
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="stream-write-watch")

    def written(self) -> None:
        self._since = None

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(self) -> None:
        while True:
            since = self._since
            now = self._loop.time()
            due = (now if since is None else since) + self._timeout
            if since is not None and now >= due:
                break
            await asyncio.sleep(due - now)
        log.warning(
            "dropped a stream reader that took no message",
            extra={"write_timeout_s": self._timeout, "peer": self._context.peer()},
        )
        # Both in this one step: the status is queued (behind the messages in
        # flight) before the handler unwinds, and the handler stops waiting.
        if self._call_task is not None:
            self._call_task.cancel()
        # Returns (raising AbortError) once the status went out, or fails if
        # the call died first; until then close() may cancel the wait.
        with contextlib.suppress(Exception):
            await self._context.abort_with_status(rpc_status.to_status(self._error.to_status()))
