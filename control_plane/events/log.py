"""A run's durable event log: appending with gap-free seqs, reading by cursor.

The ``run_events`` table is the truth. Appending allocates a contiguous block
of seqs by bumping ``agent_runs.last_seq`` (which row-locks the run until the
transaction ends, so concurrent appenders queue up and a rolled-back append
leaves no gap), writes the rows with one COPY, and queues a
``pg_notify`` on :data:`NOTIFY_CHANNEL` with the run id. PostgreSQL delivers
the notification only when the transaction commits; it wakes readers, who
then re-read from their cursor with :func:`read_events`. Never trust a
notification for content.

Events are ``ccplane.v1.RunEvent`` messages. A row keeps ``type``,
``trace_id``, ``turn_id``, ``created_at`` (the event's ``time``) and, in the
JSONB ``payload``, the oneof payload message that is set (proto JSON with
field names as in the .proto file).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import psycopg
from google.protobuf import json_format
from psycopg.types.json import Jsonb
from sqlalchemy import Row, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ccplane.v1 import events_pb2
from common import errors
from common.db.models import AgentRun
from common.db.models import RunEvent as RunEventRow

NOTIFY_CHANNEL: Final = "ccplane_run_events"
DEFAULT_READ_LIMIT: Final = 500

# Event type (as stored and streamed) -> the RunEvent.payload field it carries.
PAYLOAD_FIELDS: Final[Mapping[str, str]] = {
    "run.status_changed": "status_changed",
    "thread.started": "thread_started",
    "turn.started": "turn_started",
    "turn.completed": "turn_completed",
    "message.user": "user_message",
    "message.delta": "message_delta",
    "message.completed": "message_completed",
    "reasoning.summary": "reasoning_summary",
    "command.started": "command_started",
    "command.output": "command_output",
    "command.completed": "command_completed",
    "file_change.completed": "file_change_completed",
    "todos.updated": "todos_updated",
    "usage.updated": "usage_updated",
    "human_loop.requested": "human_loop_requested",
    "human_loop.resolved": "human_loop_resolved",
    "human_loop.expired": "human_loop_expired",
    "human_loop.canceled": "human_loop_canceled",
    "workspace.synced": "workspace_synced",
    "warning": "warning",
    "error": "error",
    "provider.raw": "provider_raw",
    "turn.diff": "turn_diff",
}
EVENT_TYPES: Final[Mapping[str, str]] = {field: type_ for type_, field in PAYLOAD_FIELDS.items()}


def event_type(event: events_pb2.RunEvent) -> str:
    """The type ``event`` must have, given its payload; its own type if it has none.

    Raises ``ValueError`` when the type set on the event contradicts its payload.
    """
    field = event.WhichOneof("payload")
    if field is None:
        if not event.type:
            raise ValueError("a run event needs a type or a payload")
        return event.type
    expected = EVENT_TYPES[field]
    if event.type and event.type != expected:
        raise ValueError(f"event type {event.type!r} does not match its payload {field!r}")
    return expected


async def append_events(
    session: AsyncSession, run_id: str, events: Sequence[events_pb2.RunEvent]
) -> list[int]:
    """Append ``events`` to the run's log; return the seq given to each, in order.

    Runs inside the caller's transaction (the caller commits), so an event
    and the state change it reports are stored together. The events' own
    ``run_id`` and ``seq`` are ignored; an empty ``type`` is filled in from
    the payload; an unset ``time`` becomes the transaction's time. Raises a
    NOT_FOUND :class:`common.errors.ServiceError` for an unknown run.
    """
    if not events:
        return []
    # Everything that can fail or take time happens before the run row is locked.
    rows = [_to_row(event) for event in events]
    allocated = (
        await session.execute(
            update(AgentRun)
            .where(AgentRun.id == run_id)
            .values(last_seq=AgentRun.last_seq + len(events))
            .returning(AgentRun.last_seq, func.now())
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if allocated is None:
        raise errors.not_found("run", run_id)
    last, now = allocated
    seqs = list(range(last - len(events) + 1, last + 1))
    await _copy_rows(session, run_id, rows, seqs, now)
    await session.execute(select(func.pg_notify(NOTIFY_CHANNEL, run_id)))
    return seqs


async def read_events(
    session: AsyncSession,
    run_id: str,
    after_seq: int = 0,
    limit: int = DEFAULT_READ_LIMIT,
) -> list[events_pb2.RunEvent]:
    """Events of ``run_id`` with ``seq > after_seq``, oldest first, at most ``limit``."""
    # Plain rows, not ORM objects: a long log is read page after page.
    rows = await session.execute(
        select(
            RunEventRow.run_id,
            RunEventRow.seq,
            RunEventRow.type,
            RunEventRow.trace_id,
            RunEventRow.turn_id,
            RunEventRow.created_at,
            RunEventRow.payload,
        )
        .where(RunEventRow.run_id == run_id, RunEventRow.seq > after_seq)
        .order_by(RunEventRow.seq)
        .limit(limit)
    )
    return [_from_row(row) for row in rows]


_COPY = "COPY run_events (run_id, seq, type, payload, trace_id, turn_id, created_at) FROM STDIN"
_COPY_TYPES = ["text", "int8", "text", "jsonb", "text", "text", "timestamptz"]


# A JSON-escaped NUL that is not itself an escaped backslash followed by "u0000".
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _dumps(payload: Any) -> str:
    """JSON for a JSONB column. PostgreSQL's text cannot hold NUL, which a
    command's output may carry (``cat`` of a binary file): it is stored as
    U+FFFD, the replacement character, like any other undecodable byte."""
    text = json.dumps(payload)
    if "\\u0000" in text:
        text = _NUL_ESCAPE.sub(r"\1\\ufffd", text)
    return text


def _to_row(event: events_pb2.RunEvent) -> tuple[str, Jsonb, str, str | None, datetime | None]:
    """(type, payload, trace_id, turn_id, created_at) of one event."""
    field = event.WhichOneof("payload")
    payload: dict[str, Any] = (
        {}
        if field is None
        else json_format.MessageToDict(getattr(event, field), preserving_proto_field_name=True)
    )
    created_at = event.time.ToDatetime(tzinfo=UTC) if event.HasField("time") else None
    return event_type(event), Jsonb(payload, dumps=_dumps), event.trace_id, event.turn_id or None, created_at


async def _copy_rows(
    session: AsyncSession,
    run_id: str,
    rows: Sequence[tuple[str, Jsonb, str, str | None, datetime | None]],
    seqs: Sequence[int],
    now: datetime,
) -> None:
    """Write the rows with COPY on the session's own connection (same
    transaction): far cheaper than a multi-row INSERT for large batches."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
    async with driver.cursor() as cursor, cursor.copy(_COPY) as copy:
        copy.set_types(_COPY_TYPES)
        for (type_, payload, trace_id, turn_id, created_at), seq in zip(rows, seqs, strict=True):
            await copy.write_row((run_id, seq, type_, payload, trace_id, turn_id, created_at or now))


def _from_row(row: Row[Any]) -> events_pb2.RunEvent:
    event = events_pb2.RunEvent(
        run_id=row.run_id, seq=row.seq, type=row.type, trace_id=row.trace_id, turn_id=row.turn_id or ""
    )
    event.time.FromDatetime(row.created_at)
    field = PAYLOAD_FIELDS.get(row.type)
    if field is not None:
        message = getattr(event, field)
        message.SetInParent()  # select the oneof member even when the payload is empty
        # Fields this version does not know (written by a newer one) are skipped.
        json_format.ParseDict(row.payload, message, ignore_unknown_fields=True)
    return event
