"""EventFeed against real PostgreSQL: several processes, lost connections, missed notifications."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy import func, select

from ccplane.v1 import common_pb2, events_pb2
from common.db.engine import Database
from control_plane.events.feed import EventFeed
from control_plane.events.stream import stream_run_events, wait_for_change, wait_until
from control_plane.runs.state_machine import RunStatus
from control_plane.todos.store import current_todos
from tests.conftest import RunFactory
from tests.integration.streams.conftest import (
    CALLER,
    NO_FALLBACK,
    TIMEOUT,
    append,
    append_with_todos,
    move,
    pump,
    seqs_of,
    take,
    todos,
)


@pytest_asyncio.fixture(loop_scope="session")
async def two_feeds(db_url: str) -> AsyncIterator[tuple[EventFeed, EventFeed]]:
    """Two feeds on their own connections, as two control-plane processes have."""
    first = EventFeed(db_url, fallback_interval=NO_FALLBACK, application_name="ccplane-test-feed-1")
    second = EventFeed(db_url, fallback_interval=NO_FALLBACK, application_name="ccplane-test-feed-2")
    await first.start()
    try:
        await second.start()
        try:
            yield first, second
        finally:
            await second.stop()
    finally:
        await first.stop()


async def _backend_pid(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.pg_backend_pid())) or 0)


async def test_two_feeds_both_wake_for_a_write_on_a_third_connection(
    database: Database, two_feeds: tuple[EventFeed, EventFeed], make_run: RunFactory
) -> None:
    first, second = two_feeds
    run_id, other_run = await make_run("running"), await make_run("running")
    pids = {first.backend_pid, second.backend_pid, await _backend_pid(database)}
    assert len(pids) == 3 and None not in pids

    with (
        first.subscribe(run_id) as on_first,
        second.subscribe(run_id) as on_second,
        first.subscribe(other_run) as bystander,
    ):
        await append(database, run_id, 2)
        async with asyncio.timeout(TIMEOUT):
            assert await on_first.wait()
            assert await on_second.wait()
        # The notification named run_id only: other runs' readers sleep on.
        assert not bystander.woken


async def test_readers_in_two_processes_both_follow_the_run(
    database: Database, two_feeds: tuple[EventFeed, EventFeed], make_run: RunFactory
) -> None:
    run_id = await make_run("running")

    async def write() -> None:
        for size in (2, 1, 4):
            await append(database, run_id, size)
        await move(database, run_id, RunStatus.SUCCEEDED)

    async with asyncio.timeout(TIMEOUT), asyncio.TaskGroup() as tasks:
        readers = [
            tasks.create_task(seqs_of(stream_run_events(database, feed, CALLER, run_id)))
            for feed in two_feeds
        ]
        tasks.create_task(write())
    assert [r.result() for r in readers] == [list(range(1, 9))] * 2


async def test_a_killed_listen_connection_is_reopened_and_readers_miss_nothing(
    db_url: str, database: Database, make_run: RunFactory
) -> None:
    # Reconnecting waits long enough that the write below surely falls in between.
    feed = EventFeed(db_url, fallback_interval=NO_FALLBACK, reconnect_delays=(0.5,))
    await feed.start()
    try:
        run_id = await make_run("running")
        queue: asyncio.Queue[events_pb2.RunEvent] = asyncio.Queue()
        async with asyncio.TaskGroup() as tasks:
            reader = tasks.create_task(pump(stream_run_events(database, feed, CALLER, run_id), queue))
            assert await append(database, run_id, 3) == await take(queue, 3)

            killed = feed.backend_pid
            async with database.session() as session:
                # Waits until that backend is gone (PostgreSQL 14+).
                assert await session.scalar(select(func.pg_terminate_backend(killed, 5000)))
            # Nobody hears this write's notification: the feed is between
            # connections. The wake-up after it listens again must bring it to
            # the reader, as nothing else is written until the reader has it.
            written = await append(database, run_id, 4)
            assert feed.connects == 1, "the feed re-listened before the write: nothing was tested"
            assert written == await take(queue, 4)
            async with asyncio.timeout(TIMEOUT):
                await feed.wait_listening(connects=2)
            assert feed.backend_pid not in {None, killed}

            assert await append(database, run_id, 2) == await take(queue, 2)
            assert [await move(database, run_id, RunStatus.SUCCEEDED)] == await take(queue, 1)
            async with asyncio.timeout(TIMEOUT):
                await reader
    finally:
        await feed.stop()
    assert not feed.listening


async def test_a_reader_recovers_without_any_notification(
    db_url: str, database: Database, make_run: RunFactory
) -> None:
    # Never started: no notification ever arrives; the fallback re-read alone finds every event.
    silent = EventFeed(db_url, fallback_interval=0.05)
    run_id = await make_run("running")

    async def write() -> None:
        await append(database, run_id, 3)
        await append(database, run_id, 2)
        await move(database, run_id, RunStatus.FAILED)

    async with asyncio.timeout(TIMEOUT), asyncio.TaskGroup() as tasks:
        reader = tasks.create_task(seqs_of(stream_run_events(database, silent, CALLER, run_id)))
        tasks.create_task(write())
    assert reader.result() == [1, 2, 3, 4, 5, 6]


async def test_wait_for_change_returns_once_the_log_moves(
    database: Database, feed: EventFeed, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    await append(database, run_id, 2)
    async with asyncio.timeout(TIMEOUT), asyncio.TaskGroup() as tasks:
        waiter = tasks.create_task(wait_for_change(database, feed, run_id, after_seq=2))
        await append(database, run_id, 1)
    position = waiter.result()
    assert (position.last_seq, position.status, position.finished) == (3, RunStatus.RUNNING, False)

    await move(database, run_id, RunStatus.CANCELED)
    async with asyncio.timeout(TIMEOUT):
        # A finished run has nothing more to wait for.
        finished = await wait_for_change(database, feed, run_id, after_seq=4)
    assert finished.finished and finished.last_seq == 4


async def test_wait_until_re_probes_on_every_change(
    database: Database, feed: EventFeed, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    probes = 0

    async def second_plan() -> int | None:
        nonlocal probes
        probes += 1
        async with database.session() as session:
            version = (await current_todos(session, CALLER, run_id)).version
        return version if version >= 2 else None

    async with asyncio.timeout(TIMEOUT), asyncio.TaskGroup() as tasks:
        waiter = tasks.create_task(wait_until(feed, run_id, second_plan))
        await append_with_todos(database, run_id, [todos(("plan", common_pb2.TODO_STATUS_PENDING))])
        await append(database, run_id, 1)
        await append_with_todos(database, run_id, [todos(("plan", common_pb2.TODO_STATUS_COMPLETED))])
    assert waiter.result() == 2
    assert probes >= 2
