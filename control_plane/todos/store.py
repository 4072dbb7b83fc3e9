"""Todo list storage: one ``run_todos`` row per version, never overwritten.

Each ``todos.updated`` event the agent produces becomes a new version of the
run's list (1, 2, 3, … per run, across turns and follow-ups), written in the
same transaction as the event, so the list and the log never disagree. The
version is given to the event *before* it is appended, so that the stored
event (and every stream replaying it) carries it; the row records the
event's seq, which is known only after appending. The ingest path does both
through :func:`append_events_with_todos`, a drop-in for
:func:`~control_plane.events.log.append_events`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from ccplane.v1 import events_pb2
from common import errors, ids
from common.db.models import AgentRun, RunTodos
from control_plane.auth import Caller
from control_plane.events.log import append_events
from control_plane.runs.validation import require_id
from control_plane.todos.convert import items_from_proto
from control_plane.todos.records import TodoItem, TodoList, TodoVersion

PAYLOAD_FIELD: Final = "todos_updated"
DEFAULT_LIST_LIMIT: Final = 100


def is_todos_update(event: events_pb2.RunEvent) -> bool:
    return bool(event.WhichOneof("payload") == PAYLOAD_FIELD)


async def append_events_with_todos(
    session: AsyncSession, run_id: str, events: Sequence[events_pb2.RunEvent]
) -> list[int]:
    """:func:`append_events`, also recording a todo version for each ``todos.updated`` event.

    Sets ``todos_updated.version`` on those events (they are stored with
    it), appends all ``events``, and writes one ``run_todos`` row per update.
    Runs in the caller's transaction; returns the seqs.
    """
    await assign_todo_versions(session, run_id, events)
    seqs = await append_events(session, run_id, events)
    for event, seq in zip(events, seqs, strict=True):
        if is_todos_update(event):
            await record_todos(session, run_id, event, seq)
    return seqs


async def assign_todo_versions(
    session: AsyncSession, run_id: str, events: Sequence[events_pb2.RunEvent]
) -> list[int]:
    """Number the ``todos.updated`` events in ``events`` with the run's next versions, in order.

    Call before appending them. Overwrites any version already set (versions
    belong to the control plane). Locks the run row, as appending does, so
    concurrent writers of one run take turns. NOT_FOUND for an unknown run.
    """
    updates = [event for event in events if is_todos_update(event)]
    if not updates:
        return []
    latest = await _lock_latest_version(session, run_id)
    versions = list(range(latest + 1, latest + 1 + len(updates)))
    for event, version in zip(updates, versions, strict=True):
        event.todos_updated.version = version
    return versions


async def record_todos(session: AsyncSession, run_id: str, event: events_pb2.RunEvent, seq: int) -> int:
    """Store the version that ``event`` (a ``todos.updated`` appended at ``seq``) reports; return it.

    Call after appending, in the same transaction. The version is the one
    :func:`assign_todo_versions` put on the event; an event without one gets
    the next version here (and is then stored in the log without it).
    """
    if not is_todos_update(event):
        raise ValueError(f"not a todos.updated event: {event.WhichOneof('payload')}")
    update = event.todos_updated
    if update.version <= 0:
        update.version = await _lock_latest_version(session, run_id) + 1
    created_at: datetime | ColumnElement[datetime] = (
        event.time.ToDatetime(tzinfo=UTC) if event.HasField("time") else func.now()
    )
    await session.execute(
        insert(RunTodos).values(
            run_id=run_id,
            version=update.version,
            items=[item.to_json() for item in items_from_proto(update.items)],
            explanation=update.explanation,
            turn_id=event.turn_id or None,
            seq=seq,
            created_at=created_at,
        )
    )
    return update.version


async def current_todos(session: AsyncSession, caller: Caller, run_id: str) -> TodoList:
    """The run's latest todo list; version 0 and no items when the agent has made no plan.

    INVALID_ARGUMENT for a malformed ``run_id``; NOT_FOUND for an unknown
    run or another tenant's.
    """
    require_id(ids.RUN, "run_id", run_id)
    owner = await session.scalar(select(AgentRun.tenant_id).where(AgentRun.id == run_id))
    if owner is None or owner != caller.tenant_id:
        raise errors.not_found("run", run_id)
    row = await session.scalar(
        select(RunTodos).where(RunTodos.run_id == run_id).order_by(RunTodos.version.desc()).limit(1)
    )
    if row is None:
        return TodoList(run_id=run_id)
    return TodoList(
        run_id=run_id,
        version=row.version,
        items=_items(row.items),
        explanation=row.explanation or "",
        updated_at=row.created_at,
    )


async def list_versions(
    session: AsyncSession, run_id: str, after_version: int = 0, limit: int = DEFAULT_LIST_LIMIT
) -> list[TodoVersion]:
    """Versions of the run's todo list newer than ``after_version``, oldest first, at most ``limit``."""
    rows = await session.scalars(
        select(RunTodos)
        .where(RunTodos.run_id == run_id, RunTodos.version > after_version)
        .order_by(RunTodos.version)
        .limit(limit)
    )
    return [
        TodoVersion(
            run_id=row.run_id,
            version=row.version,
            items=_items(row.items),
            explanation=row.explanation or "",
            turn_id=row.turn_id or "",
            seq=row.seq,
            created_at=row.created_at,
        )
        for row in rows
    ]


async def _lock_latest_version(session: AsyncSession, run_id: str) -> int:
    # FOR NO KEY UPDATE: the lock append_events' UPDATE of last_seq takes, so
    # taking it first cannot deadlock with it.
    locked = await session.scalar(
        select(AgentRun.id).where(AgentRun.id == run_id).with_for_update(key_share=True)
    )
    if locked is None:
        raise errors.not_found("run", run_id)
    latest = await session.scalar(
        select(func.coalesce(func.max(RunTodos.version), 0)).where(RunTodos.run_id == run_id)
    )
    return int(latest or 0)


def _items(stored: list[object]) -> tuple[TodoItem, ...]:
    return tuple(TodoItem.from_json(item) for item in stored if isinstance(item, dict))
