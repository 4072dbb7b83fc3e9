"""control_plane.runs.state_machine.transition against real PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import grpc
import pytest
from sqlalchemy import select

from ccplane.v1 import common_pb2
from common.db.engine import Database
from common.db.models import AgentRun
from common.errors import ServiceError
from control_plane.events.log import read_events
from control_plane.runs.state_machine import (
    ALLOWED_TRANSITIONS,
    TERMINAL,
    RunStatus,
    transition,
)
from tests.conftest import RunFactory

ALL_PAIRS = list(itertools.product(RunStatus, RunStatus))


async def _run_row(database: Database, run_id: str) -> AgentRun:
    async with database.session() as session:
        return await session.get_one(AgentRun, run_id)


async def _transition(database: Database, run_id: str, proposed: RunStatus, **kwargs: Any) -> Any:
    async with database.session() as session, session.begin():
        return await transition(session, run_id, proposed, "test", **kwargs)


@pytest.mark.parametrize(("current", "proposed"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
async def test_transition_pair(
    database: Database, make_run: RunFactory, current: RunStatus, proposed: RunStatus
) -> None:
    run_id = await make_run(current)

    result = await _transition(database, run_id, proposed)

    async with database.session() as session:
        events = await read_events(session, run_id)
    row = await _run_row(database, run_id)
    assert result.previous is current
    if proposed in ALLOWED_TRANSITIONS[current]:
        assert result.accepted, result.reason
        assert result.status is proposed
        assert result.reason == "test"
        assert result.seq == 1
        assert row.status == proposed
        assert row.last_seq == 1
        assert [e.type for e in events] == ["run.status_changed"]
        changed = events[0].status_changed
        assert common_pb2.RunStatus.Name(changed.previous_status) == f"RUN_STATUS_{current.name}"
        assert common_pb2.RunStatus.Name(changed.status) == f"RUN_STATUS_{proposed.name}"
        assert changed.reason == "test"
        assert events[0].seq == 1
    else:
        assert not result.accepted
        assert result.status is current
        assert result.seq is None
        assert result.reason
        assert row.status == current
        assert row.last_seq == 0
        assert events == []


async def test_same_status_is_rejected_with_reason(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running")
    result = await _transition(database, run_id, RunStatus.RUNNING)
    assert not result.accepted
    assert "already running" in result.reason


async def test_succeeded_cannot_go_straight_back_to_running(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("succeeded")
    result = await _transition(database, run_id, RunStatus.RUNNING)
    assert not result.accepted
    assert "not allowed" in result.reason


async def test_started_at_is_set_once(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("starting")
    await _transition(database, run_id, RunStatus.RUNNING)
    first = (await _run_row(database, run_id)).started_at
    assert first is not None
    await _transition(database, run_id, RunStatus.WAITING_HUMAN)
    await _transition(database, run_id, RunStatus.RUNNING)
    assert (await _run_row(database, run_id)).started_at == first


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
async def test_finished_at_is_set_on_finish_and_cleared_on_requeue(
    database: Database, make_run: RunFactory, terminal: RunStatus
) -> None:
    run_id = await make_run("running", executor_id="exe_1", lease_id="lease_1", owner_id="cp-1")
    await _transition(database, run_id, terminal)
    finished = await _run_row(database, run_id)
    assert finished.finished_at is not None

    await _transition(database, run_id, RunStatus.QUEUED)
    requeued = await _run_row(database, run_id)
    assert requeued.status == "queued"
    assert requeued.finished_at is None
    assert (requeued.executor_id, requeued.lease_id, requeued.owner_id) == (None, None, None)


async def test_error_is_written_with_failure_and_cleared_on_requeue(
    database: Database, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    await _transition(database, run_id, RunStatus.FAILED, error="boom", error_reason="CODEX_CRASHED")
    failed = await _run_row(database, run_id)
    assert (failed.error, failed.error_reason) == ("boom", "CODEX_CRASHED")
    async with database.session() as session:
        (event,) = await read_events(session, run_id)
    assert event.status_changed.error == "boom"

    await _transition(database, run_id, RunStatus.QUEUED)
    requeued = await _run_row(database, run_id)
    assert (requeued.error, requeued.error_reason) == (None, None)


async def test_changes_are_written_with_the_status(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("queued")
    await _transition(database, run_id, RunStatus.STARTING, executor_id="exe_9", lease_id="lease_9")
    await _transition(database, run_id, RunStatus.RUNNING, thread_id="thr_1", owner_id="cp-2")
    row = await _run_row(database, run_id)
    assert (row.executor_id, row.lease_id, row.thread_id, row.owner_id) == (
        "exe_9",
        "lease_9",
        "thr_1",
        "cp-2",
    )


async def test_event_carries_the_run_trace_id_by_default(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("queued", trace_id="0af7651916cd43dd8448eb211c80319c")
    await _transition(database, run_id, RunStatus.STARTING)
    await _transition(database, run_id, RunStatus.RUNNING, trace_id="4bf92f3577b34da6a3ce929d0e0e4736")
    async with database.session() as session:
        events = await read_events(session, run_id)
    assert [e.trace_id for e in events] == [
        "0af7651916cd43dd8448eb211c80319c",
        "4bf92f3577b34da6a3ce929d0e0e4736",
    ]


async def test_seqs_continue_the_run_log(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("queued")
    seqs = []
    for status in (RunStatus.STARTING, RunStatus.RUNNING, RunStatus.SUCCEEDED, RunStatus.QUEUED):
        seqs.append((await _transition(database, run_id, status)).seq)
    assert seqs == [1, 2, 3, 4]


async def test_rolled_back_transition_leaves_nothing(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running")
    async with database.session() as session:
        result = await transition(session, run_id, RunStatus.SUCCEEDED, "done")
        assert result.accepted
        await session.rollback()
    row = await _run_row(database, run_id)
    assert (row.status, row.last_seq) == ("running", 0)


async def test_unknown_run_is_not_found(database: Database) -> None:
    with pytest.raises(ServiceError) as caught:
        await _transition(database, "run_01ARZ3NDEKTSV4RRFFQ69G5FAV", RunStatus.STARTING)
    assert caught.value.code == grpc.StatusCode.NOT_FOUND


async def test_concurrent_transitions_serialise_on_the_row(database: Database, make_run: RunFactory) -> None:
    """Two callers race to finish the same run: exactly one wins."""
    run_id = await make_run("running")
    results = await asyncio.gather(
        _transition(database, run_id, RunStatus.SUCCEEDED),
        _transition(database, run_id, RunStatus.CANCELED),
    )
    assert sorted(r.accepted for r in results) == [False, True]
    winner = next(r for r in results if r.accepted)
    loser = next(r for r in results if not r.accepted)
    assert loser.previous is winner.status
    async with database.session() as session:
        statuses = (await session.scalars(select(AgentRun.status).where(AgentRun.id == run_id))).all()
        events = await read_events(session, run_id)
    assert statuses == [winner.status]
    assert [e.seq for e in events] == [1]
