"""File uploads over HTTP, streamed into the client-streaming UploadFile RPC.

``POST /api/workspaces/{workspace_id}/files:upload?path=…`` takes the file
either as the raw request body (streamed chunk by chunk straight into the
RPC, so memory stays bounded whatever the size) or as
``multipart/form-data`` with a ``file`` part (Starlette spools the part to
disk past 1 MiB, then it is streamed the same way). ``path``,
``expectedVersion``, ``mode`` and ``requestId`` come from the query string
(or, for multipart, from form fields). The answer is UploadFileResponse as
proto3 JSON, or a ``google.rpc.Status`` body, like every other route.
Envoy's transcoder has no client-streaming equivalent; in production this
route is the gateway's alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from ccplane.v1 import workspaces_pb2, workspaces_pb2_grpc
from common.errors import FieldViolation
from gateway.errors import error_headers, gateway_status, http_status, status_from_rpc_error, status_json
from gateway.transcode import RequestError, message_to_json
from gateway.transcoder import forwarded_metadata

UPLOAD_PATH = "/api/workspaces/{workspace_id}/files:upload"
CHUNK_BYTES = 1024 * 1024
_INT64_MAX = 2**63 - 1
_UINT32_MAX = 2**32 - 1
JSON = "application/json"


def _field(source: Any, *names: str) -> str:
    for name in names:
        value = source.get(name)
        if value:
            return str(value)
    return ""


def _header(params: Any, workspace_id: str) -> workspaces_pb2.UploadFileHeader:
    def number(*names: str, maximum: int = _INT64_MAX) -> int:
        raw = _field(params, *names)
        if not raw:
            return 0
        try:
            value = int(raw)
        except ValueError:
            raise RequestError(names[0], f"must be an integer, got {raw!r}") from None
        if not 0 <= value <= maximum:
            raise RequestError(names[0], f"must be between 0 and {maximum}, got {value}")
        return value

    return workspaces_pb2.UploadFileHeader(
        workspace_id=workspace_id,
        path=_field(params, "path"),
        expected_version=number("expectedVersion", "expected_version"),
        mode=number("mode", maximum=_UINT32_MAX),
        size=number("size"),
        request_id=_field(params, "requestId", "request_id"),
    )


class UploadEndpoint:
    def __init__(self, channel: grpc.aio.Channel, pool: Any) -> None:
        self._stub = workspaces_pb2_grpc.WorkspaceServiceStub(channel)
        self._pool = pool

    def _status(self, status: Any) -> Response:
        return Response(
            status_json(status, self._pool),
            status_code=http_status(status.code),
            media_type=JSON,
            headers={k.decode(): v.decode() for k, v in error_headers(status)},
        )

    async def handle(self, request: Request) -> Response:
        workspace_id = request.path_params["workspace_id"]
        try:
            metadata = forwarded_metadata(request.headers)
            if request.headers.get("content-type", "").startswith("multipart/form-data"):
                form = await request.form(max_files=1, max_fields=16)
                upload = form.get("file")
                if not isinstance(upload, UploadFile):
                    raise RequestError("file", "multipart uploads need a `file` part")
                params = {
                    **dict(request.query_params),
                    **{k: v for k, v in form.items() if isinstance(v, str)},
                }
                header = _header(params, workspace_id)
                chunks = _file_chunks(upload)
            else:
                header = _header(request.query_params, workspace_id)
                chunks = _body_chunks(request)
        except RequestError as error:
            violation = FieldViolation(error.field, error.description)
            return self._status(
                gateway_status(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", str(error), [violation])
            )

        async def requests() -> AsyncIterator[workspaces_pb2.UploadFileRequest]:
            yield workspaces_pb2.UploadFileRequest(header=header)
            async for chunk in chunks:
                yield workspaces_pb2.UploadFileRequest(chunk=chunk)

        try:
            response = await self._stub.UploadFile(requests(), metadata=metadata)
        except grpc.aio.AioRpcError as error:
            return self._status(status_from_rpc_error(error))
        return Response(message_to_json(response, self._pool), media_type=JSON)


async def _body_chunks(request: Request) -> AsyncIterator[bytes]:
    pending = b""
    async for piece in request.stream():
        pending += piece
        while len(pending) >= CHUNK_BYTES:
            yield pending[:CHUNK_BYTES]
            pending = pending[CHUNK_BYTES:]
    if pending:
        yield pending


async def _file_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    try:
        while chunk := await upload.read(CHUNK_BYTES):
            yield chunk
    finally:
        await upload.close()
