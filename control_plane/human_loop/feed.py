"""Following a tenant's human-loop requests across runs: replay from a cursor, then live.

Every change of a request (asked, answered, expired, canceled) gives it the
next position of its tenant's feed, ``feed_seq``, assigned at commit by a
trigger that serialises the tenant's changes (migration 0003), so positions
become visible in order and "every request with ``feed_seq`` after the
cursor" is complete. The trigger NOTIFYs the event channel with
:func:`wakeup_key`; readers subscribe to it *before* reading, as run-log
readers do, so a change committed between a read and the wait still wakes
them, and a missed notification costs latency (the feed's fallback
interval), never a change.

A request changed twice since the cursor is delivered once, in its latest
state, at its latest position: the feed tells where each request stands,
not its history (the run's event log has that).

A reader that starts empty (cursor 0, ``pending_only``) needs no settled
history: it gets the pending requests and the feed's head, read in one
snapshot, and follows from the head.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccplane.v1 import human_loop_pb2
from common.db.engine import Database
from common.db.models import HumanLoopFeed
from common.db.models import HumanLoopRequest as Row
from control_plane.auth import Caller
from control_plane.events.feed import EventFeed
from control_plane.events.stream import validate_cursor
from control_plane.human_loop.convert import record_to_proto
from control_plane.human_loop.records import HumanLoopRecord, RequestStatus

DEFAULT_PAGE = 500


def wakeup_key(tenant_id: str) -> str:
    """The notification payload that wakes readers of ``tenant_id``'s feed."""
    return f"human_loop:{tenant_id}"


async def stream_requests(
    db: Database,
    feed: EventFeed,
    caller: Caller,
    after_seq: int = 0,
    *,
    pending_only: bool = False,
    page_size: int = DEFAULT_PAGE,
) -> AsyncGenerator[human_loop_pb2.StreamRequestsResponse, None]:
    """Every request of the caller's tenant changed after ``after_seq``, in feed order, then live.

    With ``after_seq`` 0 and ``pending_only``, the replay is the requests
    still pending. Never ends on its own. INVALID_ARGUMENT for a negative
    ``after_seq``.
    """
    cursor = validate_cursor("after_seq", after_seq)
    with feed.subscribe(wakeup_key(caller.tenant_id)) as wakeup:
        if cursor == 0 and pending_only:
            async with db.session() as session, session.begin():
                head, pending = await _pending_and_head(session, caller.tenant_id)
            for seq, record in pending:
                yield human_loop_pb2.StreamRequestsResponse(seq=seq, request=record_to_proto(record))
            cursor = head
        while True:
            async with db.session() as session:
                rows = (
                    await session.scalars(
                        select(Row)
                        .where(Row.tenant_id == caller.tenant_id, Row.feed_seq > cursor)
                        .order_by(Row.feed_seq)
                        .limit(page_size)
                    )
                ).all()
                changes = [(row.feed_seq or 0, HumanLoopRecord.from_row(row)) for row in rows]
            for seq, record in changes:
                cursor = seq
                yield human_loop_pb2.StreamRequestsResponse(seq=seq, request=record_to_proto(record))
            if len(changes) == page_size:
                continue  # more to replay
            await wakeup.wait()


async def _pending_and_head(
    session: AsyncSession, tenant_id: str
) -> tuple[int, list[tuple[int, HumanLoopRecord]]]:
    """The tenant's pending requests and the feed's head, read in one snapshot."""
    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    head = await session.scalar(select(HumanLoopFeed.last_seq).where(HumanLoopFeed.tenant_id == tenant_id))
    rows = (
        await session.scalars(
            select(Row)
            .where(Row.tenant_id == tenant_id, Row.status == RequestStatus.PENDING.value)
            .order_by(Row.feed_seq)
        )
    ).all()
    return head or 0, [(row.feed_seq or 0, HumanLoopRecord.from_row(row)) for row in rows]
