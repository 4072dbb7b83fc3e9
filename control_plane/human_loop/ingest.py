"""Storing a live session's events when some of them are about the human loop.

:func:`append_session_events` is a drop-in for
:func:`~control_plane.todos.store.append_events_with_todos` in the ingest
path: ordinary events are appended in runs (todo versions recorded), and each
``human_loop.requested`` / ``human_loop.canceled`` event goes through
:func:`~control_plane.human_loop.store.record_request` /
:func:`~control_plane.human_loop.store.on_withdrawn`, at its place in the
order, so that the run's status change lands right after the event that
caused it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from ccplane.v1 import events_pb2
from control_plane.human_loop import store
from control_plane.todos.store import append_events_with_todos


async def append_session_events(
    session: AsyncSession,
    run_id: str,
    events: Sequence[events_pb2.RunEvent],
    *,
    default_timeout_s: float,
) -> None:
    """Append ``events`` (in order) in the caller's transaction, recording human-loop requests.

    A replayed request (question id already recorded) and a withdrawal of a
    request that is no longer pending are not appended again.
    """
    batch: list[events_pb2.RunEvent] = []
    for event in events:
        payload = event.WhichOneof("payload")
        if payload not in ("human_loop_requested", "human_loop_canceled"):
            batch.append(event)
            continue
        if batch:
            await append_events_with_todos(session, run_id, batch)
            batch = []
        if payload == "human_loop_requested":
            await store.record_request(session, run_id, event, default_timeout_s=default_timeout_s)
        else:
            await store.on_withdrawn(session, run_id, event)
    if batch:
        await append_events_with_todos(session, run_id, batch)
