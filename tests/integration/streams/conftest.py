"""Helpers for the stream tests: a started EventFeed, writers and readers.

Feeds here fall back to re-reading only after a minute, far beyond every
test's timeout: a test that passes was woken by a notification, not by
polling (except the test of the fallback itself).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Sequence

import pytest_asyncio

from ccplane.v1 import common_pb2, events_pb2
from common.db.engine import Database
from control_plane.auth import Caller
from control_plane.events.feed import EventFeed
from control_plane.events.log import append_events
from control_plane.runs.state_machine import RunStatus, transition
from control_plane.todos.store import append_events_with_todos
from tests.conftest import TEST_TENANT

CALLER = Caller(tenant_id=TEST_TENANT)
NO_FALLBACK = 60.0
# Every wait in these tests fails loudly after this long.
TIMEOUT = 10.0


@pytest_asyncio.fixture(loop_scope="session")
async def feed(db_url: str) -> AsyncIterator[EventFeed]:
    feed = EventFeed(db_url, fallback_interval=NO_FALLBACK, application_name="ccplane-test-feed")
    await feed.start()
    try:
        yield feed
    finally:
        await feed.stop()


def delta(text: str) -> events_pb2.RunEvent:
    return events_pb2.RunEvent(message_delta=events_pb2.MessageDelta(item_id="msg", delta=text))


def todos(
    *steps: tuple[str, common_pb2.TodoStatus], explanation: str = "", turn_id: str = ""
) -> events_pb2.RunEvent:
    return events_pb2.RunEvent(
        turn_id=turn_id,
        todos_updated=events_pb2.TodosUpdated(
            items=[
                common_pb2.TodoItem(text=text, status=status, order=order)
                for order, (text, status) in enumerate(steps)
            ],
            explanation=explanation,
        ),
    )


async def append(database: Database, run_id: str, count: int) -> list[int]:
    """Append ``count`` message deltas in one transaction; return their seqs."""
    async with database.session() as session, session.begin():
        return await append_events(session, run_id, [delta(str(i)) for i in range(count)])


async def append_with_todos(
    database: Database, run_id: str, events: Sequence[events_pb2.RunEvent]
) -> list[int]:
    async with database.session() as session, session.begin():
        return await append_events_with_todos(session, run_id, events)


async def move(database: Database, run_id: str, status: RunStatus) -> int:
    """Transition the run (which must be allowed); return the status event's seq."""
    async with database.session() as session, session.begin():
        result = await transition(session, run_id, status, f"test: {status}")
    assert result.accepted, result.reason
    assert result.seq is not None
    return result.seq


async def seqs_of(stream: AsyncIterable[events_pb2.RunEvent]) -> list[int]:
    return [event.seq async for event in stream]


async def pump(stream: AsyncIterable[events_pb2.RunEvent], into: asyncio.Queue[events_pb2.RunEvent]) -> None:
    async for event in stream:
        await into.put(event)


async def take(queue: asyncio.Queue[events_pb2.RunEvent], count: int) -> list[int]:
    """The seqs of the next ``count`` events a pumped stream delivers."""
    async with asyncio.timeout(TIMEOUT):
        return [(await queue.get()).seq for _ in range(count)]
