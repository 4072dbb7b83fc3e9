"""stream_run_events against real PostgreSQL: replay, live, resume, end."""

from __future__ import annotations

import asyncio
import random

import pytest

from ccplane.v1 import common_pb2, events_pb2
from common.db.engine import Database
from control_plane.events.feed import EventFeed
from control_plane.events.stream import stream_run_events
from control_plane.runs.state_machine import RunStatus
from tests.conftest import RunFactory
from tests.integration.streams.conftest import CALLER, TIMEOUT, append, move, pump, seqs_of, take


async def test_replay_then_live_has_no_gap_and_no_duplicate(
    database: Database, feed: EventFeed, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    await append(database, run_id, 25)  # history to replay
    rng = random.Random(20240601)
    batches = [rng.randint(1, 6) for _ in range(40)]
    writes_started = asyncio.Event()

    async def write() -> None:
        writes_started.set()
        for size in batches:
            await append(database, run_id, size)
        await move(database, run_id, RunStatus.SUCCEEDED)

    async with asyncio.timeout(TIMEOUT), asyncio.TaskGroup() as tasks:
        # Readers with different page sizes switch from replay to live at different points.
        readers = [
            tasks.create_task(seqs_of(stream_run_events(database, feed, CALLER, run_id, 0, page_size=size)))
            for size in (1, 4, 500)
        ]
        tasks.create_task(write())

    assert writes_started.is_set()
    last = 25 + sum(batches) + 1
    for reader in readers:
        assert reader.result() == list(range(1, last + 1))


async def test_live_reader_gets_each_batch_as_it_commits(
    database: Database, feed: EventFeed, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    queue: asyncio.Queue[events_pb2.RunEvent] = asyncio.Queue()
    async with asyncio.TaskGroup() as tasks:
        reader = tasks.create_task(pump(stream_run_events(database, feed, CALLER, run_id), queue))
        for size in (1, 3, 2):
            seqs = await append(database, run_id, size)
            assert await take(queue, size) == seqs
        assert queue.empty()
        assert not reader.done(), "the stream ended although the run is still running"
        final = await move(database, run_id, RunStatus.CANCELED)
        async with asyncio.timeout(TIMEOUT):
            event = await queue.get()
        assert event.seq == final
        assert event.status_changed.status == common_pb2.RUN_STATUS_CANCELED
        async with asyncio.timeout(TIMEOUT):
            await reader  # ends by itself after the final event
    assert queue.empty()


async def test_resume_mid_run_from_the_last_seq_seen(
    database: Database, feed: EventFeed, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    await append(database, run_id, 12)
    first = stream_run_events(database, feed, CALLER, run_id, 0)
    seen = []
    async with asyncio.timeout(TIMEOUT):
        async for event in first:
            seen.append(event.seq)
            if event.seq == 10:
                break
    await first.aclose()  # the client went away

    await append(database, run_id, 5)
    await move(database, run_id, RunStatus.FAILED)
    async with asyncio.timeout(TIMEOUT):
        resumed = await seqs_of(stream_run_events(database, feed, CALLER, run_id, seen[-1]))
    assert seen + resumed == list(range(1, 19))


@pytest.mark.parametrize("after_seq", [0, 1, 17, 39, 40, 1000])
async def test_resume_a_finished_run_from_any_cursor(
    database: Database, feed: EventFeed, make_run: RunFactory, after_seq: int
) -> None:
    run_id = await make_run("running")
    await append(database, run_id, 39)
    assert await move(database, run_id, RunStatus.SUCCEEDED) == 40
    async with asyncio.timeout(TIMEOUT):
        got = await seqs_of(stream_run_events(database, feed, CALLER, run_id, after_seq, page_size=8))
    assert got == list(range(after_seq + 1, 41))


@pytest.mark.parametrize("final", [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED])
async def test_a_stream_opened_after_the_run_finished_replays_and_ends(
    database: Database, feed: EventFeed, make_run: RunFactory, final: RunStatus
) -> None:
    run_id = await make_run("running")
    await append(database, run_id, 3)
    await move(database, run_id, final)
    async with asyncio.timeout(TIMEOUT):
        events = [event async for event in stream_run_events(database, feed, CALLER, run_id)]
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert all(e.run_id == run_id for e in events)
    assert events[-1].type == "run.status_changed"


async def test_a_requeued_run_streams_on_until_it_finishes_again(
    database: Database, feed: EventFeed, make_run: RunFactory
) -> None:
    run_id = await make_run("succeeded")
    await append(database, run_id, 2)
    async with asyncio.timeout(TIMEOUT):
        assert await seqs_of(stream_run_events(database, feed, CALLER, run_id)) == [1, 2]
    # A follow-up message queues the finished run again: a resumed stream follows it.
    await move(database, run_id, RunStatus.QUEUED)
    queue: asyncio.Queue[events_pb2.RunEvent] = asyncio.Queue()
    async with asyncio.TaskGroup() as tasks:
        reader = tasks.create_task(pump(stream_run_events(database, feed, CALLER, run_id, 2), queue))
        assert await take(queue, 1) == [3]
        await move(database, run_id, RunStatus.STARTING)
        await move(database, run_id, RunStatus.RUNNING)
        await append(database, run_id, 2)
        await move(database, run_id, RunStatus.SUCCEEDED)
        assert await take(queue, 5) == [4, 5, 6, 7, 8]
        async with asyncio.timeout(TIMEOUT):
            await reader
