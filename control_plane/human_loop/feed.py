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
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from sqlalchemy import select

from ccplane.v1 import human_loop_pb2
from common.db.engine import Database
from common.db.models import HumanLoopRequest as Row
from control_plane.auth import Caller
from control_plane.events.feed import EventFeed
from control_plane.events.stream import validate_cursor
from control_plane.human_loop.convert import record_to_proto
from control_plane.human_loop.records import HumanLoopRecord

DEFAULT_PAGE = 500


def wakeup_key(tenant_id: str) -> str:
    """The notification payload that wakes readers of ``tenant_id``'s feed."""
    return f"human_loop:{tenant_id}"


async def stream_requests(
    db: Database, feed: EventFeed, caller: Caller, after_seq: int = 0, *, page_size: int = DEFAULT_PAGE
) -> AsyncGenerator[human_loop_pb2.StreamRequestsResponse, None]:
    """Every request of the caller's tenant changed after ``after_seq``, in feed order, then live.

    Never ends on its own. INVALID_ARGUMENT for a negative ``after_seq``.
    """
    cursor = validate_cursor("after_seq", after_seq)
    with feed.subscribe(wakeup_key(caller.tenant_id)) as wakeup:
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
