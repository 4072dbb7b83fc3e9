"""Conversions between todo records and their protobuf messages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, cast

from ccplane.v1 import common_pb2, runs_pb2
from control_plane.todos.records import TodoItem, TodoList, TodoStatus, TodoVersion

_PROTO_PREFIX: Final = "TODO_STATUS_"

_TO_PROTO: Final[Mapping[TodoStatus, common_pb2.TodoStatus]] = {
    # The stubs type EnumTypeWrapper.Value as int; these are the enum's values.
    status: cast(common_pb2.TodoStatus, common_pb2.TodoStatus.Value(_PROTO_PREFIX + status.name))
    for status in TodoStatus
}
_FROM_PROTO: Final[Mapping[int, TodoStatus]] = {value: status for status, value in _TO_PROTO.items()}


def status_to_proto(status: TodoStatus) -> common_pb2.TodoStatus:
    """``TodoStatus.IN_PROGRESS`` → ``TODO_STATUS_IN_PROGRESS``."""
    return _TO_PROTO[status]


def status_from_proto(value: int) -> TodoStatus:
    """``TODO_STATUS_COMPLETED`` → ``TodoStatus.COMPLETED``; unknown values are unspecified."""
    return _FROM_PROTO.get(value, TodoStatus.UNSPECIFIED)


def items_from_proto(items: Iterable[common_pb2.TodoItem]) -> tuple[TodoItem, ...]:
    return tuple(
        TodoItem(text=item.text, status=status_from_proto(item.status), order=item.order) for item in items
    )


def item_to_proto(item: TodoItem) -> common_pb2.TodoItem:
    return common_pb2.TodoItem(text=item.text, status=status_to_proto(item.status), order=item.order)


def todo_list_to_proto(todos: TodoList) -> runs_pb2.ListTodosResponse:
    message = runs_pb2.ListTodosResponse(
        run_id=todos.run_id,
        version=todos.version,
        items=[item_to_proto(item) for item in todos.items],
        explanation=todos.explanation,
    )
    if todos.updated_at is not None:
        message.updated_at.FromDatetime(todos.updated_at)
    return message


def todo_version_to_proto(version: TodoVersion) -> runs_pb2.StreamTodoEventsResponse:
    message = runs_pb2.StreamTodoEventsResponse(
        run_id=version.run_id,
        version=version.version,
        items=[item_to_proto(item) for item in version.items],
        explanation=version.explanation,
        turn_id=version.turn_id,
        seq=version.seq,
    )
    message.time.FromDatetime(version.created_at)
    return message
