"""The ``/api`` front door: match a binding, weave the request, call the RPC, answer.

Unary RPCs answer with JSON; server-streaming ones with Server-Sent Events
(:mod:`gateway.sse`). The RPCs are called generically over grpc.aio with the
message classes of the contract's descriptor pool, so the gateway needs no
generated stubs. ``authorization``, ``traceparent`` and ``tracestate`` go
upstream as gRPC metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from google.rpc import status_pb2
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from gateway.contract import Contract, HttpBinding, RouteMatch
from gateway.errors import (
    JSON,
    bad_request,
    error_headers,
    gateway_status,
    http_status,
    status_from_rpc_error,
    status_json,
)
from gateway.sse import (
    ABORT_EXTENSION,
    StreamOptions,
    StreamRegistry,
    StreamShape,
    serve_stream,
    stream_shape,
)
from gateway.transcode import (
    RequestError,
    bind,
    body_into,
    field_at,
    message_to_json,
    parse_json_body,
    parse_query,
    resolve_path,
)

FORWARDED_HEADERS = ("authorization", "traceparent", "tracestate")
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
# Deadline of unary calls, as Envoy's route timeout (StopRun waits up to 15 s).
DEFAULT_UNARY_TIMEOUT_S = 60.0
ROUTE_KEY = "ccplane.route"

T = TypeVar("T")


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


@dataclass(frozen=True)
class TranscoderOptions:
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    stream: StreamOptions = field(default_factory=StreamOptions)
    # Deadline of unary calls (None: none). Streams have none.
    unary_timeout: float | None = DEFAULT_UNARY_TIMEOUT_S


class Transcoder:
    """An ASGI handler for every path under ``/api`` the contract maps."""

    def __init__(
        self,
        contract: Contract,
        channel: grpc.aio.Channel,
        options: TranscoderOptions,
        streams: StreamRegistry,
        stream_channel: grpc.aio.Channel | None = None,
    ) -> None:
        """``stream_channel`` carries the server-streaming calls (default: ``channel``)."""
        self.contract = contract
        self.options = options
        self.streams = streams
        self._unary: dict[str, Any] = {}
        self._streaming: dict[str, Any] = {}
        self._shapes: dict[str, StreamShape] = {}
        for b in contract.bindings:
            request_cls = contract.message_class(b.method.input_type)
            response_cls = contract.message_class(b.method.output_type)
            table = self._streaming if b.server_streaming else self._unary
            factory = (stream_channel or channel).unary_stream if b.server_streaming else channel.unary_unary
            table[b.rpc_path] = factory(
                b.rpc_path,
                request_serializer=request_cls.SerializeToString,
                response_deserializer=response_cls.FromString,
            )
            if b.server_streaming:
                self._shapes[b.rpc_path] = stream_shape(b.method)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1").split("?", 1)[0]
        found, allowed = self.contract.lookup(scope["method"], path)
        if found is None:
            scope[ROUTE_KEY] = "unmatched"
            if allowed:
                message = f"{scope['method']} is not allowed here"
                status = gateway_status(grpc.StatusCode.UNIMPLEMENTED, "METHOD_NOT_ALLOWED", message)
                await self._send_status(send, status, 405, [(b"allow", ", ".join(allowed).encode())])
            else:
                status = gateway_status(grpc.StatusCode.NOT_FOUND, "ROUTE_NOT_FOUND", f"no route for {path}")
                await self._send_status(send, status, 404)
            return
        scope[ROUTE_KEY] = found.binding.route
        headers = Headers(scope=scope)
        try:
            raw_body = await self._read_body(receive, headers)
            request = self._build_request(found, scope, raw_body, headers)
            metadata = forwarded_metadata(headers)
        except ClientGone:
            return
        except BodyTooLarge:
            status = gateway_status(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "REQUEST_TOO_LARGE",
                f"the request body is larger than {self.options.max_body_bytes} bytes",
            )
            await self._send_status(send, status, 413)
            return
        except RequestError as exc:
            await self._send_status(send, bad_request(exc), 400)
            return
        binding = found.binding
        if binding.server_streaming:
            call = self._streaming[binding.rpc_path](request, metadata=metadata)
            await serve_stream(
                call,
                self._shapes[binding.rpc_path],
                self.contract.pool,
                receive,
                send,
                self.options.stream,
                self.streams,
                scope.get("extensions", {}).get(ABORT_EXTENSION),
            )
            return
        await self._unary_call(binding, request, metadata, receive, send)

    async def _unary_call(
        self,
        binding: HttpBinding,
        request: Any,
        metadata: list[tuple[str, str]],
        receive: Receive,
        send: Send,
    ) -> None:
        call = self._unary[binding.rpc_path](request, metadata=metadata, timeout=self.options.unary_timeout)
        try:
            response = await _unless_disconnected(call, receive)
        except ClientGone:
            call.cancel()
            return
        except grpc.aio.AioRpcError as error:
            status = status_from_rpc_error(error)
            await self._send_status(send, status, http_status(status.code))
            return
        if binding.response_body:
            fields = resolve_path(binding.method.output_type, binding.response_body)
            response = field_at(response, [fd.name for fd in fields])
        await _send_json(send, 200, message_to_json(response, self.contract.pool))

    def _build_request(self, found: RouteMatch, scope: Scope, raw_body: bytes, headers: Headers) -> Any:
        binding = found.binding
        request = self.contract.message_class(binding.method.input_type)()
        body_paths: set[str] = set()
        if binding.body:
            body_paths = body_into(request, binding.body, parse_json_body(raw_body), self.contract.pool)
        bound: set[str] = set()
        for field_path, value in found.path_values.items():
            bind(request, field_path, value, body_paths, bound)
        for name, value in parse_query(scope.get("query_string", b"")):
            bind(request, name, value, body_paths, bound)
        shape = self._shapes.get(binding.rpc_path)
        if shape is not None and shape.cursor is not None and shape.cursor.name not in bound:
            last_event_id = headers.get("last-event-id", "").strip()
            if last_event_id:
                try:
                    bind(request, shape.cursor.name, last_event_id, body_paths, bound)
                except RequestError as exc:
                    raise RequestError("Last-Event-ID", exc.description) from None
        return request

    async def _read_body(self, receive: Receive, headers: Headers) -> bytes:
        limit = self.options.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _send_status(
        self,
        send: Send,
        status: status_pb2.Status,
        http_code: int,
        extra_headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        headers = [*error_headers(status), *(extra_headers or [])]
        await _send_json(send, http_code, status_json(status, self.contract.pool), headers)


def forwarded_metadata(headers: Headers) -> list[tuple[str, str]]:
    metadata = []
    for name in FORWARDED_HEADERS:
        value = headers.get(name)
        if value is None:
            continue
        if not value.isascii() or not value.isprintable():
            raise RequestError(name, "header must be printable ASCII")
        metadata.append((name, value))
    return metadata


async def _send_json(
    send: Send, status: int, body: bytes, extra_headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", JSON.encode()), (b"content-length", b"%d" % len(body))]
    headers.extend(extra_headers or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _unless_disconnected(call: Awaitable[T], receive: Receive) -> T:
    """Await ``call``; raise ClientGone (leaving ``call`` to the caller) when the client leaves first."""
    work = asyncio.ensure_future(call)
    gone = asyncio.ensure_future(_wait_disconnect(receive))
    try:
        await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        if work.done():
            return work.result()
        raise ClientGone
    finally:
        for task in (gone, work):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
