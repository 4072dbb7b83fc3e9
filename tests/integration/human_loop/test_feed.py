"""The tenant's human-loop feed: every change once, in order, resumable, live, isolated."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest_asyncio
from sqlalchemy import func, select

from ccplane.v1 import human_loop_pb2
from common.db.engine import Database
from common.db.models import HumanLoopFeed, HumanLoopRequest
from control_plane.auth import Caller
from control_plane.events.feed import EventFeed
from control_plane.human_loop import store
from control_plane.human_loop.feed import stream_requests
from tests.conftest import TEST_TENANT, RunFactory
from tests.integration.human_loop.conftest import (
    CALLER,
    DECLINE,
    OTHER_TENANT,
    TIMEOUT,
    approval,
    ask,
    reply,
)

PENDING = human_loop_pb2.HUMAN_LOOP_STATUS_PENDING
RESOLVED = human_loop_pb2.HUMAN_LOOP_STATUS_RESOLVED
EXPIRED = human_loop_pb2.HUMAN_LOOP_STATUS_EXPIRED
CANCELED = human_loop_pb2.HUMAN_LOOP_STATUS_CANCELED
# Long enough that a test passing within TIMEOUT was woken by NOTIFY, not by polling.
NO_FALLBACK = 60.0


@pytest_asyncio.fixture(loop_scope="session")
async def feed(database: Database) -> AsyncIterator[EventFeed]:
    feed = EventFeed(database.url, fallback_interval=NO_FALLBACK, application_name="ccplane-test-hl-feed")
    await feed.start()
    try:
        yield feed
    finally:
        await feed.stop()


async def _head(database: Database, feed: EventFeed) -> int:
    """The tenant's current feed position (0 when it has none): a cursor that skips the past."""
    changes = stream_requests(database, feed, CALLER, 0, page_size=10_000)
    last = 0
    try:
        while True:
            async with asyncio.timeout(0.5):
                last = (await anext(changes)).seq
    except TimeoutError:
        return last
    finally:
        await changes.aclose()


async def _drain(
    changes: AsyncIterator[human_loop_pb2.StreamRequestsResponse], ids: set[str]
) -> list[human_loop_pb2.StreamRequestsResponse]:
    """Changes until the feed is quiet, keeping those of ``ids`` (other tests share the tenant)."""
    got = []
    try:
        while True:
            async with asyncio.timeout(0.5):
                change = await anext(changes)
            if change.request.question_id in ids:
                got.append(change)
    except TimeoutError:
        return got


async def _take(
    changes: AsyncIterator[human_loop_pb2.StreamRequestsResponse], count: int
) -> list[human_loop_pb2.StreamRequestsResponse]:
    async with asyncio.timeout(TIMEOUT):
        return [await anext(changes) for _ in range(count)]


async def test_replay_gives_each_request_once_in_its_latest_state(
    database: Database, feed: EventFeed, make_run: RunFactory
) -> None:
    start = await _head(database, feed)
    run_a, run_b = await make_run("running"), await make_run("running")
    first = await ask(database, run_a)
    second = await ask(database, run_b)
    await reply(database, approval(run_a, first, DECLINE))

    changes = stream_requests(database, feed, CALLER, start)
    try:
        got = await _take(changes, 2)
    finally:
        await changes.aclose()
    assert [(c.request.question_id, c.request.status) for c in got] == [(second, PENDING), (first, RESOLVED)]
    assert got[0].seq < got[1].seq
    assert got[1].request.answer.approval.decision == DECLINE
    assert got[1].request.resolved_by == CALLER.key_id


async def test_resumes_after_a_cursor_and_follows_live(
    database: Database, feed: EventFeed, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    asked = await ask(database, run_id)
    cursor = await _head(database, feed)

    changes = stream_requests(database, feed, CALLER, cursor)
    try:
        waiting = asyncio.ensure_future(_take(changes, 2))
        await asyncio.sleep(0)
        await reply(database, approval(run_id, asked))
        later = await ask(database, run_id)
        got = await waiting
    finally:
        await changes.aclose()
    assert [(c.request.question_id, c.request.status) for c in got] == [(asked, RESOLVED), (later, PENDING)]
    assert cursor < got[0].seq < got[1].seq


async def test_cancel_and_expiry_are_changes_too(
    database: Database, feed: EventFeed, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    cursor = await _head(database, feed)
    canceled = await ask(database, run_id)
    async with database.session() as session, session.begin():
        await store.cancel_pending(session, run_id, "stopped")
    expiring = await ask(database, run_id)
    async with database.session() as session, session.begin():
        await store.expire_due(session, await _far_future(database))

    changes = stream_requests(database, feed, CALLER, cursor)
    try:
        got = await _drain(changes, {canceled, expiring})
    finally:
        await changes.aclose()
    assert [(c.request.question_id, c.request.status) for c in got] == [
        (canceled, CANCELED),
        (expiring, EXPIRED),
    ]


async def _far_future(database: Database) -> datetime:
    async with database.session() as session:
        now = await session.scalar(select(func.now()))
    assert now is not None
    return now + timedelta(days=3650)


async def test_another_tenant_sees_nothing(database: Database, feed: EventFeed, make_run: RunFactory) -> None:
    run_id = await make_run("running")
    await ask(database, run_id)
    changes = stream_requests(database, feed, OTHER_TENANT, 0)
    try:
        async with asyncio.timeout(0.5):
            leaked = await anext(changes)
        raise AssertionError(f"another tenant saw {leaked.request.question_id}")
    except TimeoutError:
        pass
    finally:
        await changes.aclose()


async def test_concurrent_changes_across_runs_neither_deadlock_nor_leave_gaps(
    database: Database, feed: EventFeed, make_run: RunFactory
) -> None:
    """Replies on many runs race a sweep that expires requests of all of them in one transaction."""
    cursor = await _head(database, feed)
    runs = [await make_run("running") for _ in range(8)]
    asked = {run_id: [await ask(database, run_id) for _ in range(3)] for run_id in runs}

    async def answer_all(run_id: str) -> None:
        for question_id in asked[run_id]:
            try:
                await reply(database, approval(run_id, question_id))
            except Exception as exc:  # expired first: refused, which is fine
                assert "expired" in str(exc).lower(), exc

    async def sweep() -> None:
        async with database.session() as session, session.begin():
            await store.expire_due(session, await _far_future(database))

    async with asyncio.timeout(TIMEOUT):
        await asyncio.gather(sweep(), *(answer_all(r) for r in runs))

    ours = {q for qs in asked.values() for q in qs}
    changes = stream_requests(database, feed, CALLER, cursor)
    try:
        got = await _drain(changes, ours)
    finally:
        await changes.aclose()
    seqs = [c.seq for c in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(ours)
    assert {c.request.question_id for c in got} == ours
    assert all(c.request.status in (RESOLVED, EXPIRED) for c in got)


async def test_positions_have_no_gaps(database: Database, feed: EventFeed) -> None:
    """Every committed request has a position, no two share one, and the newest is the feed's head."""
    async with database.session() as session:
        head = await session.scalar(
            select(HumanLoopFeed.last_seq).where(HumanLoopFeed.tenant_id == TEST_TENANT)
        )
        seqs = (
            await session.scalars(
                select(HumanLoopRequest.feed_seq).where(HumanLoopRequest.tenant_id == TEST_TENANT)
            )
        ).all()
    assert head is not None and None not in seqs
    assert max(seqs) == head and len(set(seqs)) == len(seqs)


async def test_pending_only_starts_from_what_waits_then_follows(
    database: Database, feed: EventFeed, make_run: RunFactory
) -> None:
    tenant = f"feed-pending-{secrets.token_hex(4)}"  # a tenant of its own: the replay is exactly ours
    caller = Caller(tenant_id=tenant, key_id="key_inbox")
    run_id = await make_run("running", tenant_id=tenant)
    settled = await ask(database, run_id)
    await reply(database, approval(run_id, settled), caller)
    waiting = await ask(database, run_id)

    changes = stream_requests(database, feed, caller, 0, pending_only=True)
    try:
        (replayed,) = await _take(changes, 1)
        assert (replayed.request.question_id, replayed.request.status) == (waiting, PENDING)
        later = asyncio.ensure_future(_take(changes, 1))
        await asyncio.sleep(0)
        await reply(database, approval(run_id, waiting), caller)
        (answered,) = await later
    finally:
        await changes.aclose()
    assert (answered.request.question_id, answered.request.status) == (waiting, RESOLVED)
    assert answered.seq > replayed.seq
