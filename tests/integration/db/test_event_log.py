"""control_plane.events.log against real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import grpc
import psycopg
import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from sqlalchemy import select

from ccplane.v1 import common_pb2, events_pb2, human_loop_pb2
from common.db.engine import Database
from common.db.models import AgentRun
from common.db.models import RunEvent as RunEventRow
from common.errors import ServiceError
from control_plane.events.log import NOTIFY_CHANNEL, append_events, read_events
from tests.conftest import RunFactory, libpq_url

NOTIFY_TIMEOUT = 10.0


def _time(iso: str) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(datetime.fromisoformat(iso))
    return ts


def _sample_events() -> list[events_pb2.RunEvent]:
    params = struct_pb2.Struct()
    params.update({"threadId": "thr_1", "n": 3})
    return [
        events_pb2.RunEvent(
            type="turn.started",
            turn_id="turn_1",
            trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
            time=_time("2026-01-02T03:04:05.123456+00:00"),
            turn_started=events_pb2.TurnStarted(turn_id="turn_1", thread_id="thr_1"),
        ),
        events_pb2.RunEvent(
            turn_id="turn_1",
            command_completed=events_pb2.CommandCompleted(
                item_id="item_1",
                command="ls -la",
                status=events_pb2.COMMAND_STATUS_COMPLETED,
                exit_code=0,
                output="total 0\n",
                duration_ms=12,
            ),
        ),
        events_pb2.RunEvent(
            todos_updated=events_pb2.TodosUpdated(
                version=2,
                items=[common_pb2.TodoItem(text="write tests", status=common_pb2.TODO_STATUS_IN_PROGRESS)],
            )
        ),
        events_pb2.RunEvent(
            human_loop_requested=events_pb2.HumanLoopRequested(
                question_id="hlq_1",
                kind=human_loop_pb2.HUMAN_LOOP_KIND_COMMAND_APPROVAL,
                expires_at=_time("2026-01-02T04:00:00+00:00"),
            )
        ),
        events_pb2.RunEvent(provider_raw=events_pb2.ProviderRaw(method="thread/x", params=params)),
        # An empty payload message must still come back as that payload.
        events_pb2.RunEvent(warning=events_pb2.RunWarning()),
    ]


async def test_append_and_read_round_trip(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running")
    sent = _sample_events()

    async with database.session() as session, session.begin():
        seqs = await append_events(session, run_id, sent)

    assert seqs == [1, 2, 3, 4, 5, 6]
    async with database.session() as session:
        got = await read_events(session, run_id)
    assert [e.seq for e in got] == seqs
    for original, stored in zip(sent, got, strict=True):
        field = original.WhichOneof("payload")
        assert stored.WhichOneof("payload") == field
        assert getattr(stored, field) == getattr(original, field)
        assert stored.run_id == run_id
        assert stored.turn_id == original.turn_id
        assert stored.trace_id == original.trace_id
        assert stored.HasField("time")
    assert got[0].type == "turn.started"
    assert got[1].type == "command.completed"
    assert got[0].time.ToDatetime(tzinfo=UTC) == datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert got[1].command_completed.HasField("exit_code")


async def test_output_with_nul_bytes_is_stored(database: Database, make_run: RunFactory) -> None:
    """PostgreSQL text holds no NUL; a command that prints a binary file must
    not break the run's log. NUL becomes U+FFFD; a literal backslash-u0000 stays."""
    run_id = await make_run("running")
    output = "\x7fELF\x02\x00\x00 and a literal \\u0000 and \\\x00"
    event = events_pb2.RunEvent(
        command_completed=events_pb2.CommandCompleted(item_id="i", command="cat /bin/true", output=output)
    )
    async with database.session() as session, session.begin():
        await append_events(session, run_id, [event])
    async with database.session() as session:
        (stored,) = await read_events(session, run_id)
    assert stored.command_completed.output == output.replace("\x00", "\ufffd")


async def test_payload_is_stored_as_proto_json(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running")
    event = events_pb2.RunEvent(
        human_loop_requested=events_pb2.HumanLoopRequested(
            question_id="hlq_2", kind=human_loop_pb2.HUMAN_LOOP_KIND_USER_INPUT
        )
    )
    async with database.session() as session, session.begin():
        await append_events(session, run_id, [event])
    async with database.session() as session:
        row = (await session.execute(select(RunEventRow).where(RunEventRow.run_id == run_id))).scalar_one()
    assert row.type == "human_loop.requested"
    assert row.payload == {"question_id": "hlq_2", "kind": "HUMAN_LOOP_KIND_USER_INPUT"}
    assert row.turn_id is None


async def test_read_pages_by_cursor(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running")
    deltas = [
        events_pb2.RunEvent(message_delta=events_pb2.MessageDelta(item_id="m", delta=str(i)))
        for i in range(10)
    ]
    async with database.session() as session, session.begin():
        await append_events(session, run_id, deltas[:4])
        await append_events(session, run_id, deltas[4:])

    async with database.session() as session:
        page = await read_events(session, run_id, after_seq=3, limit=4)
        rest = await read_events(session, run_id, after_seq=page[-1].seq)
    assert [e.seq for e in page] == [4, 5, 6, 7]
    assert [e.message_delta.delta for e in rest] == ["7", "8", "9"]


async def test_concurrent_appends_are_gap_free(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running")

    async def append_batch(n: int) -> list[int]:
        batch = [
            events_pb2.RunEvent(message_delta=events_pb2.MessageDelta(delta=f"{n}.{i}")) for i in range(3)
        ]
        async with database.session() as session, session.begin():
            return await append_events(session, run_id, batch)

    batches = await asyncio.gather(*(append_batch(n) for n in range(8)))

    all_seqs = sorted(s for batch in batches for s in batch)
    assert all_seqs == list(range(1, 25))
    for batch in batches:
        assert batch == list(range(batch[0], batch[0] + 3))
    async with database.session() as session:
        assert [e.seq for e in await read_events(session, run_id)] == all_seqs
        assert await session.scalar(select(AgentRun.last_seq).where(AgentRun.id == run_id)) == 24


async def test_rolled_back_append_leaves_no_gap(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running")
    event = events_pb2.RunEvent(warning=events_pb2.RunWarning(message="w"))
    async with database.session() as session:
        assert await append_events(session, run_id, [event]) == [1]
        await session.rollback()
    async with database.session() as session, session.begin():
        assert await append_events(session, run_id, [event]) == [1]


async def test_append_nothing(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running")
    async with database.session() as session, session.begin():
        assert await append_events(session, run_id, []) == []


async def test_append_to_unknown_run_is_not_found(database: Database) -> None:
    event = events_pb2.RunEvent(warning=events_pb2.RunWarning(message="w"))
    async with database.session() as session:
        with pytest.raises(ServiceError) as caught:
            await append_events(session, "run_01ARZ3NDEKTSV4RRFFQ69G5FAV", [event])
    assert caught.value.code == grpc.StatusCode.NOT_FOUND


async def test_mismatched_type_is_refused_before_writing(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running")
    bad = events_pb2.RunEvent(type="turn.started", warning=events_pb2.RunWarning(message="w"))
    async with database.session() as session:
        with pytest.raises(ValueError, match="does not match"):
            await append_events(session, run_id, [bad])
        assert await session.scalar(select(AgentRun.last_seq).where(AgentRun.id == run_id)) == 0


async def test_notification_arrives_after_commit(
    database: Database, db_url: str, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    listener = await psycopg.AsyncConnection.connect(libpq_url(db_url), autocommit=True)
    try:
        await listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        async with database.session() as session, session.begin():
            await append_events(session, run_id, [events_pb2.RunEvent(warning=events_pb2.RunWarning())])
            # Not committed yet: nothing may have been delivered.
            pending = [n async for n in listener.notifies(timeout=0)]
            assert pending == []

        received = [n async for n in listener.notifies(timeout=NOTIFY_TIMEOUT, stop_after=1)]
    finally:
        await listener.close()
    assert [(n.channel, n.payload) for n in received] == [(NOTIFY_CHANNEL, run_id)]


async def test_large_batch_is_inserted_in_chunks(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running")
    batch = [
        events_pb2.RunEvent(command_output=events_pb2.CommandOutput(item_id="c", chunk=str(i)))
        for i in range(2500)
    ]
    async with database.session() as session, session.begin():
        seqs = await append_events(session, run_id, batch)
    assert seqs == list(range(1, 2501))
    async with database.session() as session:
        tail = await read_events(session, run_id, after_seq=2498)
    assert [(e.seq, e.command_output.chunk) for e in tail] == [(2499, "2498"), (2500, "2499")]
