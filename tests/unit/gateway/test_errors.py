"""gRPC status → HTTP status and google.rpc.Status JSON."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import any_pb2, descriptor_pool
from google.rpc import error_details_pb2, status_pb2

from gateway.errors import HTTP_STATUS_BY_CODE, bad_request, http_status, status_from_rpc_error, status_json
from gateway.transcode import RequestError

POOL = descriptor_pool.Default()

# grpc-gateway's runtime.HTTPStatusFromCode, spelled out once more on purpose.
EXPECTED = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


@pytest.mark.parametrize(("code", "status"), EXPECTED.items(), ids=lambda v: getattr(v, "name", str(v)))
def test_http_status_table(code: grpc.StatusCode, status: int) -> None:
    assert http_status(code.value[0]) == status


def test_table_covers_every_code_and_unknown_codes_are_500() -> None:
    assert set(HTTP_STATUS_BY_CODE) == {c.value[0] for c in grpc.StatusCode}
    assert http_status(99) == 500


def _rpc_error(
    code: grpc.StatusCode, details: str, trailing: tuple[tuple[str, object], ...]
) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing), details)


def test_rich_status_comes_from_the_details_trailer() -> None:
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason="RUN_NOT_FOUND", domain="ccplane.dev"))
    rich = status_pb2.Status(code=5, message="run x not found", details=[info])
    error = _rpc_error(
        grpc.StatusCode.NOT_FOUND, "run x not found", (("grpc-status-details-bin", rich.SerializeToString()),)
    )
    assert status_from_rpc_error(error) == rich
    assert json.loads(status_json(rich, POOL)) == {
        "code": 5,
        "message": "run x not found",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "RUN_NOT_FOUND",
                "domain": "ccplane.dev",
            }
        ],
    }


def test_plain_status_and_mismatched_trailer() -> None:
    plain = _rpc_error(grpc.StatusCode.UNAVAILABLE, "connection refused", ())
    assert status_from_rpc_error(plain) == status_pb2.Status(code=14, message="connection refused")
    other = status_pb2.Status(code=3, message="other").SerializeToString()
    mismatched = _rpc_error(grpc.StatusCode.INTERNAL, "boom", (("grpc-status-details-bin", other),))
    assert status_from_rpc_error(mismatched) == status_pb2.Status(code=13, message="boom")


def test_details_of_unknown_types_keep_their_bytes() -> None:
    status = status_pb2.Status(
        code=2, details=[any_pb2.Any(type_url="type.googleapis.com/x.Y", value=b"\x01\x02")]
    )
    assert json.loads(status_json(status, POOL)) == {
        "code": 2,
        "details": [{"@type": "type.googleapis.com/x.Y", "value": "AQI="}],
    }


def test_bad_request_names_the_field() -> None:
    status = bad_request(RequestError("settings.approvalMode", "invalid value"))
    document = json.loads(status_json(status, POOL))
    assert document["code"] == 3
    assert document["message"] == "settings.approvalMode: invalid value"
    info, bad = document["details"]
    assert info["reason"] == "INVALID_ARGUMENT" and info["metadata"] == {"field": "settings.approvalMode"}
    assert bad["fieldViolations"] == [{"field": "settings.approvalMode", "description": "invalid value"}]
