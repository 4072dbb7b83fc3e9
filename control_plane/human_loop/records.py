"""Plain records of human-loop requests, as domain code and servicers see them.

Stored values: ``kind`` is the lower_snake name of the ``HumanLoopKind``
without its prefix (``command_approval``, ``file_change_approval``,
``permissions_approval``, ``user_input``, ``mcp_elicitation``), which is also
the name of the ``HumanLoopDetails`` oneof member that describes it;
``status`` is one of ``pending``, ``resolved``, ``expired``, ``canceled``.
``details`` and ``answer`` are proto JSON (field names as in the .proto
file) of ``HumanLoopDetails`` and ``HumanLoopAnswer``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from ccplane.v1 import human_loop_pb2
from common.db import models


class RequestKind(StrEnum):
    COMMAND_APPROVAL = "command_approval"
    FILE_CHANGE_APPROVAL = "file_change_approval"
    PERMISSIONS_APPROVAL = "permissions_approval"
    USER_INPUT = "user_input"
    MCP_ELICITATION = "mcp_elicitation"

    @property
    def is_approval(self) -> bool:
        return self in _APPROVALS


_APPROVALS = frozenset(
    {RequestKind.COMMAND_APPROVAL, RequestKind.FILE_CHANGE_APPROVAL, RequestKind.PERMISSIONS_APPROVAL}
)


class RequestStatus(StrEnum):
    PENDING = "pending"
    RESOLVED = "resolved"
    EXPIRED = "expired"
    CANCELED = "canceled"


@dataclass(frozen=True)
class HumanLoopRecord:
    """One request and where it stands."""

    question_id: str
    run_id: str
    tenant_id: str
    workspace_id: str | None
    kind: RequestKind
    status: RequestStatus
    details: dict[str, Any]
    # The person's answer, or the decline sent on expiry; None while pending.
    answer: dict[str, Any] | None
    answer_request_id: str | None
    resolved_by: str | None
    turn_id: str | None
    item_id: str | None
    request_seq: int | None
    created_at: datetime
    resolved_at: datetime | None
    expires_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def from_row(cls, row: models.HumanLoopRequest) -> HumanLoopRecord:
        return cls(
            question_id=row.question_id,
            run_id=row.run_id,
            tenant_id=row.tenant_id,
            workspace_id=row.workspace_id,
            kind=RequestKind(row.kind),
            status=RequestStatus(row.status),
            details=dict(row.details or {}),
            answer=None if row.answer is None else dict(row.answer),
            answer_request_id=row.answer_request_id,
            resolved_by=row.resolved_by,
            turn_id=row.turn_id,
            item_id=row.item_id,
            request_seq=row.request_seq,
            created_at=row.created_at,
            resolved_at=row.resolved_at,
            expires_at=row.expires_at,
            delivered_at=row.delivered_at,
        )


class PendingDelivery(NamedTuple):
    """An answer the run's driver must still send down the session."""

    question_id: str
    answer: human_loop_pb2.HumanLoopAnswer


@dataclass(frozen=True)
class RecordedRequest:
    """What :func:`~control_plane.human_loop.store.record_request` did.

    ``created`` is False when the question id was already recorded (a replay):
    nothing was written then and ``seq`` is the original event's seq.
    ``run_status`` is the run's status afterwards.
    """

    request: HumanLoopRecord
    created: bool
    seq: int | None
    run_status: str
