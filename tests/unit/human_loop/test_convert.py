"""Human-loop records and their protobuf messages, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ccplane.v1 import human_loop_pb2 as hl
from common.db.models import HUMAN_LOOP_STATUSES
from control_plane.human_loop.convert import (
    kind_from_proto,
    kind_to_proto,
    record_to_proto,
    status_from_proto,
    status_to_proto,
    to_json,
)
from control_plane.human_loop.records import HumanLoopRecord, RequestKind, RequestStatus

WHEN = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)


@pytest.mark.parametrize("kind", list(RequestKind))
def test_kind_round_trip(kind: RequestKind) -> None:
    assert kind_from_proto(kind_to_proto(kind)) == kind
    assert hl.HumanLoopKind.Name(kind_to_proto(kind)) == "HUMAN_LOOP_KIND_" + kind.name
    # The stored kind names the details oneof member that describes it.
    oneof = hl.HumanLoopDetails.DESCRIPTOR.oneofs_by_name["details"]
    assert kind.value in [field.name for field in oneof.fields]


@pytest.mark.parametrize("status", list(RequestStatus))
def test_status_round_trip(status: RequestStatus) -> None:
    assert status_from_proto(status_to_proto(status)) == status
    assert hl.HumanLoopStatus.Name(status_to_proto(status)) == "HUMAN_LOOP_STATUS_" + status.name


def test_statuses_match_the_schema() -> None:
    assert {s.value for s in RequestStatus} == set(HUMAN_LOOP_STATUSES)


def test_unspecified_values_are_refused() -> None:
    with pytest.raises(ValueError):
        kind_from_proto(hl.HUMAN_LOOP_KIND_UNSPECIFIED)
    with pytest.raises(ValueError):
        status_from_proto(99)


def _record(**changes: object) -> HumanLoopRecord:
    details = hl.HumanLoopDetails(
        user_input=hl.UserInputDetails(
            item_id="tool_1", questions=[hl.UserInputQuestion(id="pin", question="PIN?", secret=True)]
        )
    )
    values: dict[str, object] = {
        "question_id": "hlq_01JABCDEFGHJKMNPQRSTVWXYZ0",
        "run_id": "run_01JABCDEFGHJKMNPQRSTVWXYZ0",
        "tenant_id": "ten_test",
        "workspace_id": None,
        "kind": RequestKind.USER_INPUT,
        "status": RequestStatus.PENDING,
        "details": to_json(details),
        "answer": None,
        "answer_request_id": None,
        "resolved_by": None,
        "turn_id": None,
        "item_id": "tool_1",
        "request_seq": 7,
        "created_at": WHEN,
        "resolved_at": None,
        "expires_at": WHEN + timedelta(hours=1),
        "delivered_at": None,
    }
    values.update(changes)
    return HumanLoopRecord(**values)  # type: ignore[arg-type]


def test_a_pending_request() -> None:
    message = record_to_proto(_record())
    assert message.kind == hl.HUMAN_LOOP_KIND_USER_INPUT
    assert message.status == hl.HUMAN_LOOP_STATUS_PENDING
    assert message.details.user_input.questions[0].question == "PIN?"
    assert message.created_at.ToDatetime(tzinfo=UTC) == WHEN
    assert message.expires_at.ToDatetime(tzinfo=UTC) == WHEN + timedelta(hours=1)
    assert (message.workspace_id, message.turn_id, message.resolved_by) == ("", "", "")
    assert not message.HasField("answer") and not message.HasField("resolved_at")


def test_a_resolved_request_shows_a_redacted_answer() -> None:
    message = record_to_proto(
        _record(
            status=RequestStatus.RESOLVED,
            answer=to_json(hl.HumanLoopAnswer(text="1234")),
            resolved_by="key_alice",
            resolved_at=WHEN + timedelta(minutes=1),
            workspace_id="ws_01JABCDEFGHJKMNPQRSTVWXYZ0",
            turn_id="turn-1",
        )
    )
    assert message.answer.text == "[redacted]"
    assert message.resolved_by == "key_alice"
    assert message.resolved_at.ToDatetime(tzinfo=UTC) == WHEN + timedelta(minutes=1)
    assert (message.workspace_id, message.turn_id) == ("ws_01JABCDEFGHJKMNPQRSTVWXYZ0", "turn-1")
