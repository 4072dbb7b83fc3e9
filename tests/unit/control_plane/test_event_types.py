"""The mapping between event types and RunEvent payload fields."""

from __future__ import annotations

import pytest

from ccplane.v1 import events_pb2
from control_plane.events.log import EVENT_TYPES, PAYLOAD_FIELDS, event_type


def test_every_payload_field_has_a_type() -> None:
    oneof = events_pb2.RunEvent.DESCRIPTOR.oneofs_by_name["payload"]
    assert {f.name for f in oneof.fields} == set(EVENT_TYPES)
    assert len(PAYLOAD_FIELDS) == len(EVENT_TYPES)


def test_types_listed_in_the_proto_are_known() -> None:
    # The RunEvent comment lists the types; keep the table in step with it.
    assert set(PAYLOAD_FIELDS) == {
        "run.status_changed",
        "thread.started",
        "turn.started",
        "turn.completed",
        "message.user",
        "message.delta",
        "message.completed",
        "reasoning.summary",
        "command.started",
        "command.output",
        "command.completed",
        "file_change.completed",
        "todos.updated",
        "usage.updated",
        "human_loop.requested",
        "human_loop.resolved",
        "human_loop.expired",
        "human_loop.canceled",
        "workspace.synced",
        "warning",
        "error",
        "turn.diff",
        "provider.raw",
    }


def test_type_is_taken_from_the_payload() -> None:
    event = events_pb2.RunEvent(user_message=events_pb2.UserMessage(text="hi"))
    assert event_type(event) == "message.user"


def test_type_contradicting_payload_is_refused() -> None:
    event = events_pb2.RunEvent(type="message.delta", warning=events_pb2.RunWarning(message="x"))
    with pytest.raises(ValueError, match="does not match"):
        event_type(event)


def test_event_without_type_or_payload_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a type"):
        event_type(events_pb2.RunEvent())


def test_payload_less_event_keeps_its_type() -> None:
    assert event_type(events_pb2.RunEvent(type="custom.thing")) == "custom.thing"
