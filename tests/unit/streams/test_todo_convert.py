"""Todo records and their protobuf messages, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ccplane.v1 import common_pb2, runs_pb2
from control_plane.todos.convert import (
    items_from_proto,
    status_from_proto,
    status_to_proto,
    todo_list_to_proto,
    todo_version_to_proto,
)
from control_plane.todos.records import TodoItem, TodoList, TodoStatus, TodoVersion

WHEN = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)


@pytest.mark.parametrize("status", list(TodoStatus))
def test_status_round_trip(status: TodoStatus) -> None:
    assert status_from_proto(status_to_proto(status)) == status
    assert common_pb2.TodoStatus.Name(status_to_proto(status)) == "TODO_STATUS_" + status.name


def test_unknown_status_is_unspecified() -> None:
    assert status_from_proto(99) == TodoStatus.UNSPECIFIED
    assert TodoItem.from_json({"text": "x", "status": "someday", "order": 2}).status == TodoStatus.UNSPECIFIED


def test_item_json_round_trip() -> None:
    item = TodoItem("write tests", TodoStatus.IN_PROGRESS, 3)
    assert item.to_json() == {"text": "write tests", "status": "in_progress", "order": 3}
    assert TodoItem.from_json(item.to_json()) == item


def test_items_from_proto_keep_order_and_status() -> None:
    items = items_from_proto(
        [
            common_pb2.TodoItem(text="a", status=common_pb2.TODO_STATUS_COMPLETED, order=0),
            common_pb2.TodoItem(text="b", order=1),
        ]
    )
    assert items == (TodoItem("a", TodoStatus.COMPLETED, 0), TodoItem("b", TodoStatus.UNSPECIFIED, 1))


def test_empty_list_has_no_updated_at() -> None:
    message = todo_list_to_proto(TodoList(run_id="run_x"))
    assert message == runs_pb2.ListTodosResponse(run_id="run_x")
    assert not message.HasField("updated_at")


def test_list_and_version_messages() -> None:
    items = (TodoItem("a", TodoStatus.PENDING, 0),)
    listed = todo_list_to_proto(TodoList("run_x", 4, items, "why", WHEN))
    assert (listed.version, listed.explanation, listed.updated_at.ToDatetime(tzinfo=UTC)) == (4, "why", WHEN)
    assert [(i.text, i.status, i.order) for i in listed.items] == [("a", common_pb2.TODO_STATUS_PENDING, 0)]

    streamed = todo_version_to_proto(TodoVersion("run_x", 4, items, "why", "turn_1", 17, WHEN))
    assert (streamed.run_id, streamed.version, streamed.turn_id, streamed.seq) == ("run_x", 4, "turn_1", 17)
    assert streamed.time.ToDatetime(tzinfo=UTC) == WHEN
    assert list(streamed.items) == list(listed.items)
