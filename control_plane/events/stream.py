"""Following a run's event log: replay from a cursor, then live, until the run ends.

A reader subscribes to the run's wake-ups *before* its first read and then
loops: read the run's position (status, last_seq), read the next page of
events after its cursor, yield them, and — when caught up — wait for a
wake-up (or the feed's fallback interval). Because the subscription is armed
before every read, a commit that lands between a read and the wait still
wakes the reader, so the switch from replay to live has no gap; because the
cursor only moves forward by delivered seqs, nothing is delivered twice.

The log is gap-free and seqs become visible in order (an appender holds the
run row lock until it commits), so "every event after the cursor" read in
one statement is a contiguous run of seqs.

A stream ends after the run's final event: the run is in a terminal status
and every event up to its ``last_seq`` has been delivered. The position is
read before the events, so a page read afterwards holds at least every
event up to that ``last_seq``. A finished run that is queued again (a
follow-up) is a new stretch of the log; a client resumes it from its cursor.

Sessions are opened per read and closed before yielding: a slow client
never holds a database connection.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccplane.v1 import events_pb2, runs_pb2
from common import errors, ids
from common.db.engine import Database
from common.db.models import AgentRun
from common.paging import decode_token, encode_token
from common.paging import page_size as checked_page_size
from control_plane.auth import Caller
from control_plane.events.feed import EventFeed
from control_plane.events.log import DEFAULT_READ_LIMIT, read_events
from control_plane.runs.state_machine import TERMINAL, RunStatus, status_to_proto
from control_plane.runs.validation import require_id

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RunPosition:
    """Where a run's log stands: its status and the seq of its newest event."""

    run_id: str
    status: RunStatus
    last_seq: int

    @property
    def finished(self) -> bool:
        """True in a terminal status: the log holds the run's final event."""
        return self.status in TERMINAL


async def run_position(session: AsyncSession, run_id: str, caller: Caller | None = None) -> RunPosition:
    """The run's status and ``last_seq``; NOT_FOUND when unknown or (given a caller) another tenant's."""
    stmt = select(AgentRun.status, AgentRun.last_seq).where(AgentRun.id == run_id)
    if caller is not None:
        stmt = stmt.where(AgentRun.tenant_id == caller.tenant_id)
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        raise errors.not_found("run", run_id)
    return RunPosition(run_id, RunStatus(row.status), row.last_seq)


def validate_cursor(field_name: str, value: int) -> int:
    """A resume cursor: 0 (from the start) or a position already seen."""
    if value < 0:
        raise errors.invalid_argument(field_name, "must not be negative")
    return value


async def stream_run_events(
    db: Database,
    feed: EventFeed,
    caller: Caller,
    run_id: str,
    after_seq: int = 0,
    *,
    page_size: int = DEFAULT_READ_LIMIT,
) -> AsyncGenerator[events_pb2.RunEvent, None]:
    """Every event of ``run_id`` with ``seq > after_seq`` in order, live, until the run ends.

    INVALID_ARGUMENT for a malformed ``run_id`` or a negative ``after_seq``;
    NOT_FOUND for an unknown run or another tenant's (raised on the first
    iteration, as an async generator does).
    """
    require_id(ids.RUN, "run_id", run_id)
    cursor = validate_cursor("after_seq", after_seq)
    with feed.subscribe(run_id) as wakeup:
        while True:
            async with db.session() as session:
                position = await run_position(session, run_id, caller)
                events = await read_events(session, run_id, cursor, page_size)
            for event in events:
                cursor = event.seq
                yield event
            if len(events) == page_size:
                continue  # more to replay
            if position.finished and cursor >= position.last_seq:
                return
            await wakeup.wait()


DEFAULT_LIST_PAGE = 1000
MAX_LIST_PAGE = 5000


async def list_run_events(
    db: Database, caller: Caller, request: runs_pb2.ListRunEventsRequest
) -> runs_pb2.ListRunEventsResponse:
    """One page of the run's stored log, oldest first (``ListRunEvents``).

    INVALID_ARGUMENT for a malformed id, cursor, size or token; NOT_FOUND for
    an unknown run or another tenant's.
    """
    require_id(ids.RUN, "run_id", request.run_id)
    size = checked_page_size(request.page_size, default=DEFAULT_LIST_PAGE, maximum=MAX_LIST_PAGE)
    cursor = validate_cursor("after_seq", request.after_seq)
    token = decode_token(request.page_token, [request.run_id], key_length=1)
    if token is not None:
        (cursor,) = token.key
        if not isinstance(cursor, int) or cursor < 0:
            raise errors.invalid_argument("page_token", "malformed page token")
    async with db.session() as session:
        position = await run_position(session, request.run_id, caller)
        events = await read_events(session, request.run_id, cursor, size)
    last = events[-1].seq if events else cursor
    more = last < position.last_seq
    return runs_pb2.ListRunEventsResponse(
        events=events,
        next_page_token=encode_token([last], [request.run_id]) if more else "",
        last_seq=position.last_seq,
        status=status_to_proto(position.status),
    )


async def wait_until(
    feed: EventFeed,
    run_id: str,
    probe: Callable[[], Awaitable[T | None]],
) -> T:
    """Await ``probe()`` until it returns something other than None; return that.

    ``probe`` runs once at once and again whenever the run's log may have
    changed (a wake-up, or the feed's fallback interval), so it should read
    the database afresh each time. The wake-ups are armed before the first
    probe, so a change committed while a probe runs is not missed. Waits for
    ever: bound it with ``asyncio.timeout``.
    """
    with feed.subscribe(run_id) as wakeup:
        while True:
            result = await probe()
            if result is not None:
                return result
            await wakeup.wait()


async def wait_for_change(db: Database, feed: EventFeed, run_id: str, after_seq: int) -> RunPosition:
    """Wait until run ``run_id`` has an event after ``after_seq`` or is finished; return its position.

    Compare ``last_seq`` with ``after_seq`` to tell which. NOT_FOUND for an
    unknown run. No tenant check: for code inside the control plane. Bound it
    with ``asyncio.timeout``.
    """

    async def moved() -> RunPosition | None:
        async with db.session() as session:
            position = await run_position(session, run_id)
        return position if position.last_seq > after_seq or position.finished else None

    return await wait_until(feed, run_id, moved)
