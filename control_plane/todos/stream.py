"""Following a run's todo list: every version after a cursor, then live, until the run ends.

Todo versions are written in the same transaction as the ``todos.updated``
event that reports them, so a reader wakes on the run's event notifications
and re-reads ``run_todos`` by version, exactly as
:func:`control_plane.events.stream.stream_run_events` re-reads the log by
seq: subscribe first, read the run's position, then the versions after the
cursor; end once the run is finished and no version is left.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from common import ids
from common.db.engine import Database
from control_plane.auth import Caller
from control_plane.events.feed import EventFeed
from control_plane.events.stream import run_position, validate_cursor
from control_plane.runs.validation import require_id
from control_plane.todos.records import TodoVersion
from control_plane.todos.store import DEFAULT_LIST_LIMIT, list_versions


async def stream_todo_events(
    db: Database,
    feed: EventFeed,
    caller: Caller,
    run_id: str,
    after_version: int = 0,
    *,
    page_size: int = DEFAULT_LIST_LIMIT,
) -> AsyncGenerator[TodoVersion, None]:
    """Every version of the run's todo list after ``after_version``, in order, live, until the run ends.

    INVALID_ARGUMENT for a malformed ``run_id`` or a negative
    ``after_version``; NOT_FOUND for an unknown run or another tenant's.
    """
    require_id(ids.RUN, "run_id", run_id)
    cursor = validate_cursor("after_version", after_version)
    with feed.subscribe(run_id) as wakeup:
        while True:
            async with db.session() as session:
                position = await run_position(session, run_id, caller)
                versions = await list_versions(session, run_id, cursor, page_size)
            for version in versions:
                cursor = version.version
                yield version
            if len(versions) == page_size:
                continue  # more to replay
            if position.finished:
                return
            await wakeup.wait()
