"""Plain records of todo lists, as domain code and servicers see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class TodoStatus(StrEnum):
    """A step's status, with the values stored in ``run_todos.items``."""

    UNSPECIFIED = "unspecified"
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class TodoItem:
    """One step of the plan; ``order`` is its position, from 0."""

    text: str
    status: TodoStatus
    order: int

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "status": self.status.value, "order": self.order}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> TodoItem:
        try:
            status = TodoStatus(value.get("status", TodoStatus.UNSPECIFIED))
        except ValueError:
            status = TodoStatus.UNSPECIFIED  # written by a newer version
        return cls(text=str(value.get("text", "")), status=status, order=int(value.get("order", 0)))


@dataclass(frozen=True, slots=True)
class TodoVersion:
    """One version of a run's todo list, as the ``todos.updated`` event at ``seq`` reported it."""

    run_id: str
    version: int
    items: tuple[TodoItem, ...]
    explanation: str
    turn_id: str
    seq: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TodoList:
    """A run's current todo list: version 0, no items and no ``updated_at`` before any plan."""

    run_id: str
    version: int = 0
    items: tuple[TodoItem, ...] = ()
    explanation: str = ""
    updated_at: datetime | None = None
