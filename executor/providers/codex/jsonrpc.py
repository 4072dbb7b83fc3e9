"""JSON-RPC over JSON lines, the way ``codex app-server`` speaks it.

Messages are JSON-RPC 2.0 objects without the ``"jsonrpc"`` member, one per
line. Three directions matter:

* our requests (``request()``) wait for their response with a timeout and
  fail with a typed error on timeout, on an error response, or when the
  connection ends;
* notifications from Codex are queued, in arrival order, together with
* server requests from Codex (approvals, questions), which are surfaced as
  :class:`ServerRequest` objects that can be answered later and exactly once,
  without ever blocking the reader, so the caller can still steer or
  interrupt while an approval waits for minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("ccplane.codex.jsonrpc")

# JSON-RPC error codes we send.
METHOD_NOT_FOUND = -32601
INTERNAL_ERROR = -32603


class JsonRpcError(Exception):
    """Base class of JSON-RPC failures."""


class ConnectionClosedError(JsonRpcError):
    """The peer went away (for Codex: the process exited)."""


class RequestTimeoutError(JsonRpcError):
    def __init__(self, method: str, timeout: float) -> None:
        super().__init__(f"{method}: no response within {timeout:g}s")
        self.method = method
        self.timeout = timeout


class RemoteError(JsonRpcError):
    """The peer answered our request with an error object."""

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{method}: error {code}: {message}")
        self.method = method
        self.code = code
        self.remote_message = message
        self.data = data


class AlreadyAnsweredError(JsonRpcError):
    """A server request was answered before; the second answer is not sent."""


@dataclass(frozen=True)
class Notification:
    method: str
    params: dict[str, Any]


@dataclass(eq=False)
class ServerRequest:
    """A request from the peer that waits for our answer.

    Answer it with ``respond()`` or ``respond_error()``, once. The object
    stays valid for as long as the caller keeps it; answering after the
    connection closed raises :class:`ConnectionClosedError`.
    """

    id: int | str
    method: str
    params: dict[str, Any]
    _connection: JsonRpcConnection = field(repr=False)
    _answered: bool = field(default=False, repr=False)

    @property
    def answered(self) -> bool:
        return self._answered

    async def respond(self, result: Any) -> None:
        self._claim()
        await self._connection._send({"id": self.id, "result": result})

    async def respond_error(self, code: int, message: str, data: Any = None) -> None:
        self._claim()
        error: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        await self._connection._send({"id": self.id, "error": error})

    def _claim(self) -> None:
        # Claimed synchronously, before any await: two concurrent answers can
        # never both reach the wire.
        if self._answered:
            raise AlreadyAnsweredError(f"{self.method} request {self.id!r} was already answered")
        self._answered = True


Incoming = Notification | ServerRequest


class JsonRpcConnection:
    """One JSON-lines connection over an asyncio stream pair."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter | Any,
        *,
        default_timeout: float = 30.0,
        name: str = "jsonrpc",
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._default_timeout = default_timeout
        self._name = name
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[str, asyncio.Future[Any]]] = {}
        self._incoming: asyncio.Queue[Incoming | None] = asyncio.Queue()
        self._write_lock = asyncio.Lock()
        self._reader_task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._close_reason: str = ""

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        if self._reader_task is None:
            self._reader_task = asyncio.create_task(self._read_loop(), name=f"{self._name}-reader")

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def close_reason(self) -> str:
        return self._close_reason

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def close(self, reason: str = "closed by client") -> None:
        """Stop reading, fail pending requests; does not close the peer."""
        self._mark_closed(reason)
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task

    # -- sending -----------------------------------------------------------

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, timeout_s: float | None = None
    ) -> Any:
        """Send a request and return its ``result``."""
        if self.closed:
            raise ConnectionClosedError(f"{method}: connection closed ({self._close_reason})")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (method, future)
        message: dict[str, Any] = {"id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        limit = self._default_timeout if timeout_s is None else timeout_s
        try:
            await self._send(message)
            return await asyncio.wait_for(asyncio.shield(future), limit)
        except TimeoutError:
            raise RequestTimeoutError(method, limit) from None
        finally:
            self._pending.pop(request_id, None)
            if not future.done():
                future.cancel()

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"method": method}
        if params is not None:
            message["params"] = params
        await self._send(message)

    async def _send(self, message: dict[str, Any]) -> None:
        if self.closed:
            raise ConnectionClosedError(f"connection closed ({self._close_reason})")
        data = json.dumps(message, separators=(",", ":"), ensure_ascii=False) + "\n"
        async with self._write_lock:
            try:
                self._writer.write(data.encode())
                await self._writer.drain()
            except (ConnectionError, RuntimeError) as exc:
                self._mark_closed(f"write failed: {exc}")
                raise ConnectionClosedError(f"connection closed ({exc})") from exc

    # -- receiving ---------------------------------------------------------

    async def incoming(self) -> AsyncIterator[Incoming]:
        """Notifications and server requests in arrival order; ends on close."""
        while True:
            item = await self._incoming.get()
            if item is None:
                self._incoming.put_nowait(None)  # let other readers see the end too
                return
            yield item

    async def _read_loop(self) -> None:
        reason = "peer closed the connection"
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                if line.strip():
                    self._dispatch(line)
        except asyncio.CancelledError:
            reason = "closed by client"
            raise
        except Exception as exc:  # a broken stream must still fail pending requests
            reason = f"read failed: {exc}"
            log.warning("%s: %s", self._name, reason)
        finally:
            self._mark_closed(reason)

    def _dispatch(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            log.warning("%s: ignoring a line that is not JSON: %.200r", self._name, line)
            return
        if not isinstance(message, dict):
            log.warning("%s: ignoring a non-object message: %.200r", self._name, line)
            return
        method = message.get("method")
        if method is None and "id" in message:
            self._resolve(message)
            return
        if not isinstance(method, str):
            log.warning("%s: ignoring a message without method: %.200r", self._name, line)
            return
        params = message.get("params")
        params = params if isinstance(params, dict) else {}
        if "id" in message and message["id"] is not None:
            self._incoming.put_nowait(ServerRequest(message["id"], method, params, self))
        else:
            self._incoming.put_nowait(Notification(method, params))

    def _resolve(self, message: dict[str, Any]) -> None:
        entry = self._pending.get(message["id"])
        if entry is None:
            log.debug("%s: response to unknown or timed-out request %r", self._name, message["id"])
            return
        method, future = entry
        if future.done():
            return
        error = message.get("error")
        if error is not None:
            error = error if isinstance(error, dict) else {"message": str(error)}
            future.set_exception(
                RemoteError(
                    method,
                    int(error.get("code", INTERNAL_ERROR)),
                    str(error.get("message", "")),
                    error.get("data"),
                )
            )
        else:
            future.set_result(message.get("result"))

    def _mark_closed(self, reason: str) -> None:
        if self._closed.is_set():
            return
        self._close_reason = reason
        self._closed.set()
        for method, future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionClosedError(f"{method}: {reason}"))
        self._incoming.put_nowait(None)
