"""Todo lists against real PostgreSQL: versions, history, the stream."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from ccplane.v1 import common_pb2, runs_pb2
from common.db.engine import Database
from common.db.models import RunTodos
from control_plane.events.feed import EventFeed
from control_plane.events.log import read_events
from control_plane.runs.state_machine import RunStatus
from control_plane.todos.convert import todo_list_to_proto, todo_version_to_proto
from control_plane.todos.records import TodoItem, TodoStatus, TodoVersion
from control_plane.todos.store import current_todos, list_versions, record_todos
from control_plane.todos.stream import stream_todo_events
from tests.conftest import RunFactory
from tests.integration.streams.conftest import (
    CALLER,
    TIMEOUT,
    append,
    append_with_todos,
    delta,
    move,
    todos,
)

PENDING, DOING, DONE = (
    common_pb2.TODO_STATUS_PENDING,
    common_pb2.TODO_STATUS_IN_PROGRESS,
    common_pb2.TODO_STATUS_COMPLETED,
)


async def test_no_plan_yet_is_version_zero(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running")
    async with database.session() as session:
        current = await current_todos(session, CALLER, run_id)
        assert await list_versions(session, run_id) == []
    assert (current.version, current.items, current.updated_at) == (0, (), None)
    message = todo_list_to_proto(current)
    assert message == runs_pb2.ListTodosResponse(run_id=run_id)
    assert not message.HasField("updated_at")


async def test_each_update_is_a_new_version_stored_with_its_event(
    database: Database, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    first = todos(("read the code", DOING), ("write tests", PENDING), explanation="Two steps.", turn_id="t1")
    first.todos_updated.version = 42  # the executor's number means nothing: the control plane assigns
    second = todos(("read the code", DONE), ("write tests", DOING), turn_id="t1")
    seqs = await append_with_todos(database, run_id, [delta("a"), first, delta("b"), second])

    async with database.session() as session:
        stored = await read_events(session, run_id)
        current = await current_todos(session, CALLER, run_id)
        versions = await list_versions(session, run_id)
    assert [e.todos_updated.version for e in stored if e.type == "todos.updated"] == [1, 2]
    assert [(v.version, v.seq, v.turn_id) for v in versions] == [(1, seqs[1], "t1"), (2, seqs[3], "t1")]
    assert versions[0].explanation == "Two steps."
    assert versions[0].items == (
        TodoItem("read the code", TodoStatus.IN_PROGRESS, 0),
        TodoItem("write tests", TodoStatus.PENDING, 1),
    )
    assert current.version == 2
    assert current.items == versions[1].items
    assert (
        current.updated_at
        == versions[1].created_at
        == stored[3].time.ToDatetime(tzinfo=versions[1].created_at.tzinfo)
    )

    message = todo_list_to_proto(current)
    assert message.version == 2
    assert [(i.text, i.status, i.order) for i in message.items] == [
        ("read the code", DONE, 0),
        ("write tests", DOING, 1),
    ]
    assert message.HasField("updated_at")


async def test_history_across_turns_and_follow_ups_stays_queryable(
    database: Database, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    await append_with_todos(database, run_id, [todos(("one", DOING), turn_id="t1")])
    await append_with_todos(database, run_id, [todos(("one", DONE), turn_id="t1")])
    await move(database, run_id, RunStatus.SUCCEEDED)
    for status in (RunStatus.QUEUED, RunStatus.STARTING, RunStatus.RUNNING):
        await move(database, run_id, status)  # a follow-up message continues the thread
    await append_with_todos(database, run_id, [todos(("two", DOING), turn_id="t2")])

    async with database.session() as session:
        versions = await list_versions(session, run_id)
        page = await list_versions(session, run_id, after_version=1, limit=1)
        rows = (await session.scalars(select(RunTodos).where(RunTodos.run_id == run_id))).all()
    assert [(v.version, v.turn_id, v.items[0].text) for v in versions] == [
        (1, "t1", "one"),
        (2, "t1", "one"),
        (3, "t2", "two"),
    ]
    assert [v.version for v in page] == [2]
    assert len(rows) == 3


async def test_record_todos_numbers_an_unnumbered_update(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running")
    await append_with_todos(database, run_id, [todos(("a", DONE))])
    event = todos(("b", PENDING))
    (seq,) = await append(database, run_id, 1)
    async with database.session() as session, session.begin():
        assert await record_todos(session, run_id, event, seq) == 2
    assert event.todos_updated.version == 2


async def test_concurrent_writers_of_one_run_take_turns(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running")

    async def write(name: str) -> None:
        for i in range(8):
            await append_with_todos(database, run_id, [delta(name), todos((f"{name}{i}", PENDING))])

    async with asyncio.timeout(TIMEOUT), asyncio.TaskGroup() as tasks:
        for name in "xyz":
            tasks.create_task(write(name))
    async with database.session() as session:
        versions = await list_versions(session, run_id)
    assert [v.version for v in versions] == list(range(1, 25))
    assert [v.seq for v in versions] == sorted(v.seq for v in versions), "versions follow the log's order"


async def test_stream_replays_every_version_then_follows_until_the_run_ends(
    database: Database, feed: EventFeed, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    await append_with_todos(database, run_id, [todos(("a", DOING)), todos(("a", DONE))])
    got: asyncio.Queue[TodoVersion] = asyncio.Queue()

    async def read() -> None:
        async for version in stream_todo_events(database, feed, CALLER, run_id, 0, page_size=1):
            await got.put(version)

    async def next_versions(count: int) -> list[int]:
        async with asyncio.timeout(TIMEOUT):
            return [(await got.get()).version for _ in range(count)]

    async with asyncio.TaskGroup() as tasks:
        reader = tasks.create_task(read())
        assert await next_versions(2) == [1, 2]
        await append(database, run_id, 3)  # other events wake the reader, nothing to send
        await append_with_todos(database, run_id, [delta("x"), todos(("b", DOING), turn_id="t2")])
        assert await next_versions(1) == [3]
        assert not reader.done()
        await move(database, run_id, RunStatus.SUCCEEDED)
        async with asyncio.timeout(TIMEOUT):
            await reader
    assert got.empty()


async def test_stream_resumes_after_a_version_and_converts(
    database: Database, feed: EventFeed, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    for step in ("a", "b", "c"):
        await append_with_todos(database, run_id, [todos((step, DOING), turn_id="t1", explanation=step)])
    await move(database, run_id, RunStatus.FAILED)
    async with asyncio.timeout(TIMEOUT):
        versions = [v async for v in stream_todo_events(database, feed, CALLER, run_id, 1)]
        assert [v async for v in stream_todo_events(database, feed, CALLER, run_id, 3)] == []
    assert [v.version for v in versions] == [2, 3]
    message = todo_version_to_proto(versions[0])
    assert (message.run_id, message.version, message.explanation, message.turn_id) == (run_id, 2, "b", "t1")
    assert message.seq == versions[0].seq == 2
    assert [(i.text, i.status, i.order) for i in message.items] == [("b", DOING, 0)]
    assert message.time.ToDatetime(tzinfo=versions[0].created_at.tzinfo) == versions[0].created_at
