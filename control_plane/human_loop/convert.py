"""Conversions between human-loop records, their stored JSON and protobuf messages."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, cast

from google.protobuf import json_format, timestamp_pb2

from ccplane.v1 import human_loop_pb2
from control_plane.human_loop.answers import redact
from control_plane.human_loop.records import HumanLoopRecord, RequestKind, RequestStatus

_KIND_PREFIX: Final = "HUMAN_LOOP_KIND_"
_STATUS_PREFIX: Final = "HUMAN_LOOP_STATUS_"

# The stubs type EnumTypeWrapper.Value as int; these are the enums' values.
_KIND_TO_PROTO: Final[Mapping[RequestKind, human_loop_pb2.HumanLoopKind]] = {
    kind: cast(human_loop_pb2.HumanLoopKind, human_loop_pb2.HumanLoopKind.Value(_KIND_PREFIX + kind.name))
    for kind in RequestKind
}
_STATUS_TO_PROTO: Final[Mapping[RequestStatus, human_loop_pb2.HumanLoopStatus]] = {
    status: cast(
        human_loop_pb2.HumanLoopStatus, human_loop_pb2.HumanLoopStatus.Value(_STATUS_PREFIX + status.name)
    )
    for status in RequestStatus
}


def kind_to_proto(kind: RequestKind) -> human_loop_pb2.HumanLoopKind:
    return _KIND_TO_PROTO[kind]


def kind_from_proto(value: int) -> RequestKind:
    """``HUMAN_LOOP_KIND_USER_INPUT`` → ``RequestKind.USER_INPUT``; ValueError for unspecified or unknown."""
    for kind, proto in _KIND_TO_PROTO.items():
        if proto == value:
            return kind
    raise ValueError(f"unknown or unspecified human-loop kind {value}")


def status_to_proto(status: RequestStatus) -> human_loop_pb2.HumanLoopStatus:
    return _STATUS_TO_PROTO[status]


def status_from_proto(value: int) -> RequestStatus:
    """``HUMAN_LOOP_STATUS_PENDING`` → ``RequestStatus.PENDING``; ValueError for unspecified or unknown."""
    for status, proto in _STATUS_TO_PROTO.items():
        if proto == value:
            return status
    raise ValueError(f"unknown or unspecified human-loop status {value}")


def to_json(message: Any) -> dict[str, Any]:
    """Proto JSON with the .proto field names, as stored in JSONB columns."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def details_from_json(data: Mapping[str, Any]) -> human_loop_pb2.HumanLoopDetails:
    return json_format.ParseDict(dict(data), human_loop_pb2.HumanLoopDetails(), ignore_unknown_fields=True)


def answer_from_json(data: Mapping[str, Any]) -> human_loop_pb2.HumanLoopAnswer:
    return json_format.ParseDict(dict(data), human_loop_pb2.HumanLoopAnswer(), ignore_unknown_fields=True)


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def record_to_proto(record: HumanLoopRecord) -> human_loop_pb2.HumanLoopRequest:
    """The request as callers see it: answers to secret questions are redacted."""
    details = details_from_json(record.details)
    message = human_loop_pb2.HumanLoopRequest(
        question_id=record.question_id,
        run_id=record.run_id,
        kind=kind_to_proto(record.kind),
        status=status_to_proto(record.status),
        details=details,
        workspace_id=record.workspace_id or "",
        turn_id=record.turn_id or "",
        resolved_by=record.resolved_by or "",
    )
    if record.answer is not None:
        message.answer.CopyFrom(redact(details, answer_from_json(record.answer)))
    message.created_at.CopyFrom(timestamp(record.created_at))
    if record.resolved_at is not None:
        message.resolved_at.CopyFrom(timestamp(record.resolved_at))
    if record.expires_at is not None:
        message.expires_at.CopyFrom(timestamp(record.expires_at))
    return message
