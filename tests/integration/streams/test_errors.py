"""Bad input and other tenants' runs: INVALID_ARGUMENT naming the field, NOT_FOUND."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import grpc
import pytest

from common import ids
from common.db.engine import Database
from common.errors import ServiceError
from control_plane.auth import Caller
from control_plane.events.feed import EventFeed
from control_plane.events.stream import stream_run_events
from control_plane.todos.store import current_todos
from control_plane.todos.stream import stream_todo_events
from tests.conftest import RunFactory
from tests.integration.streams.conftest import CALLER

Entry = Callable[[Database, EventFeed, Caller, str, int], Awaitable[Any]]


async def _first(stream: AsyncGenerator[Any, None]) -> Any:
    try:
        return await anext(stream, None)
    finally:
        await stream.aclose()


async def _run_events(db: Database, feed: EventFeed, caller: Caller, run_id: str, cursor: int) -> Any:
    return await _first(stream_run_events(db, feed, caller, run_id, cursor))


async def _todo_events(db: Database, feed: EventFeed, caller: Caller, run_id: str, cursor: int) -> Any:
    return await _first(stream_todo_events(db, feed, caller, run_id, cursor))


async def _list_todos(db: Database, feed: EventFeed, caller: Caller, run_id: str, cursor: int) -> Any:
    async with db.session() as session:
        return await current_todos(session, caller, run_id)


ENTRIES = {"stream_run_events": _run_events, "stream_todo_events": _todo_events, "current_todos": _list_todos}
STREAMS = {
    "stream_run_events": ("after_seq", _run_events),
    "stream_todo_events": ("after_version", _todo_events),
}


@pytest.mark.parametrize("entry", ENTRIES.values(), ids=ENTRIES.keys())
@pytest.mark.parametrize(
    "run_id",
    [
        "",
        "run_123",
        "ws_01J9ZZZZZZZZZZZZZZZZZZZZZZ",
        ids.new_id(ids.RUN) + "x",
        "run_01j9zzzzzzzzzzzzzzzzzzzzzz",
    ],
)
async def test_malformed_run_id_is_invalid_argument(
    database: Database, feed: EventFeed, entry: Entry, run_id: str
) -> None:
    with pytest.raises(ServiceError) as raised:
        await entry(database, feed, CALLER, run_id, 0)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in raised.value.violations] == ["run_id"]


@pytest.mark.parametrize(("field", "entry"), STREAMS.values(), ids=STREAMS.keys())
async def test_negative_cursor_is_invalid_argument(
    database: Database, feed: EventFeed, make_run: RunFactory, field: str, entry: Entry
) -> None:
    run_id = await make_run("running")
    with pytest.raises(ServiceError) as raised:
        await entry(database, feed, CALLER, run_id, -1)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in raised.value.violations] == [field]


@pytest.mark.parametrize("entry", ENTRIES.values(), ids=ENTRIES.keys())
async def test_another_tenants_run_is_not_found(
    database: Database, feed: EventFeed, make_run: RunFactory, entry: Entry
) -> None:
    theirs = await make_run("succeeded", tenant_id="ten_someone_else")
    with pytest.raises(ServiceError) as raised:
        await entry(database, feed, CALLER, theirs, 0)
    assert raised.value.code == grpc.StatusCode.NOT_FOUND
    assert raised.value.reason == "RUN_NOT_FOUND"
    # Their own tenant sees it.
    await entry(database, feed, Caller(tenant_id="ten_someone_else"), theirs, 0)


@pytest.mark.parametrize("entry", ENTRIES.values(), ids=ENTRIES.keys())
async def test_unknown_run_is_not_found(database: Database, feed: EventFeed, entry: Entry) -> None:
    with pytest.raises(ServiceError) as raised:
        await entry(database, feed, CALLER, ids.new_id(ids.RUN), 0)
    assert raised.value.code == grpc.StatusCode.NOT_FOUND
