"""gRPC status → HTTP error response, as Envoy's ``convert_grpc_status`` writes it.

The HTTP status comes from the gRPC code by the grpc-gateway/Envoy table;
the body is the ``google.rpc.Status`` as proto3 JSON (numeric ``code``,
``message``, ``details`` as ``Any`` JSON with ``@type``). The control plane
already sends rich statuses (``grpc-status-details-bin``); a status without
details becomes ``{code, message}``. Errors the gateway makes itself (bad
JSON, unknown routes) use the same shape, with an ``ErrorInfo`` and, for bad
input, a ``BadRequest`` naming the field.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence

import grpc
from google.protobuf import descriptor_pool, json_format
from google.rpc import error_details_pb2, status_pb2

from common.errors import FieldViolation, ServiceError
from gateway.transcode import RequestError, dumps

# grpc-gateway's runtime.HTTPStatusFromCode; Envoy's Grpc::Utility::grpcToHttpStatus.
HTTP_STATUS_BY_CODE: dict[int, int] = {
    0: 200,  # OK
    1: 499,  # CANCELLED
    2: 500,  # UNKNOWN
    3: 400,  # INVALID_ARGUMENT
    4: 504,  # DEADLINE_EXCEEDED
    5: 404,  # NOT_FOUND
    6: 409,  # ALREADY_EXISTS
    7: 403,  # PERMISSION_DENIED
    8: 429,  # RESOURCE_EXHAUSTED
    9: 400,  # FAILED_PRECONDITION
    10: 409,  # ABORTED
    11: 400,  # OUT_OF_RANGE
    12: 501,  # UNIMPLEMENTED
    13: 500,  # INTERNAL
    14: 503,  # UNAVAILABLE
    15: 500,  # DATA_LOSS
    16: 401,  # UNAUTHENTICATED
}
DETAILS_KEY = "grpc-status-details-bin"
JSON = "application/json"


def http_status(code: int) -> int:
    """The HTTP status for a gRPC status code; 500 for codes outside the table."""
    return HTTP_STATUS_BY_CODE.get(code, 500)


def status_from_rpc_error(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The rich status an RPC failed with (its details trailer when it matches the code)."""
    code = error.code().value[0]
    for key, value in error.trailing_metadata() or ():
        if key == DETAILS_KEY and isinstance(value, bytes):
            try:
                status = status_pb2.Status.FromString(value)
            except Exception:
                break
            if status.code == code:
                return status
            break
    return status_pb2.Status(code=code, message=error.details() or "")


def error_headers(status: status_pb2.Status) -> list[tuple[bytes, bytes]]:
    """HTTP headers an error response carries besides its body: ``Retry-After``
    (whole seconds, from a ``RetryInfo``) and, for 401, ``WWW-Authenticate``."""
    headers: list[tuple[bytes, bytes]] = []
    if status.code == grpc.StatusCode.UNAUTHENTICATED.value[0]:
        headers.append((b"www-authenticate", b'Bearer realm="ccplane"'))
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            seconds = max(1, math.ceil(info.retry_delay.ToMilliseconds() / 1000))
            headers.append((b"retry-after", str(seconds).encode()))
            break
    return headers


def status_json(status: status_pb2.Status, pool: descriptor_pool.DescriptorPool) -> bytes:
    """``status`` as proto3 JSON; details of unknown types keep their raw bytes (base64)."""
    try:
        return dumps(json_format.MessageToDict(status, descriptor_pool=pool))
    except (TypeError, KeyError, json_format.Error):
        document: dict[str, object] = {"code": status.code}
        if status.message:
            document["message"] = status.message
        details = []
        for any_ in status.details:
            try:
                details.append(json_format.MessageToDict(any_, descriptor_pool=pool))
            except (TypeError, KeyError, json_format.Error):
                details.append({"@type": any_.type_url, "value": base64.b64encode(any_.value).decode()})
        if details:
            document["details"] = details
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def gateway_status(
    code: grpc.StatusCode,
    reason: str,
    message: str,
    violations: Sequence[FieldViolation] = (),
    **metadata: str,
) -> status_pb2.Status:
    """A status the gateway answers with itself (domain ``ccplane.dev``)."""
    return ServiceError(code, reason, message, violations, metadata).to_status()


def bad_request(error: RequestError) -> status_pb2.Status:
    return gateway_status(
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
        str(error),
        [FieldViolation(error.field, error.description)],
        **({"field": error.field} if error.field else {}),
    )
