"""Human-loop requests against real PostgreSQL: rows, events and the run's status at each step."""

from __future__ import annotations

from datetime import UTC, timedelta

from google.protobuf import json_format

from ccplane.v1 import human_loop_pb2
from common.db.engine import Database
from control_plane.human_loop import queries, store
from control_plane.human_loop.ingest import append_session_events
from control_plane.runs.state_machine import RunStatus, transition
from tests.conftest import TEST_TENANT, RunFactory
from tests.integration.human_loop.conftest import (
    ACCEPT,
    DECLINE,
    CommandWakeups,
    answers,
    approval,
    ask,
    command_approval,
    log_of,
    question,
    record,
    reply,
    run_status,
    stored,
    types_of,
    user_input,
    withdrawn,
)
from tests.integration.streams.conftest import delta

ACCEPTED = {"approval": {"decision": "APPROVAL_DECISION_ACCEPT"}}
DECLINED = {"approval": {"decision": "APPROVAL_DECISION_DECLINE"}}


async def test_a_request_is_pending_and_the_run_waits_for_a_person(
    database: Database, make_run: RunFactory
) -> None:
    run_id = await make_run("running", workspace_id="ws_01JTESTWORKSPACE0000000000")
    event = command_approval()
    question_id = event.human_loop_requested.question_id

    recorded = await record(database, run_id, event, default_timeout_s=600)

    assert (recorded.created, recorded.run_status) == (True, "waiting_human")
    assert recorded.request.status == "pending"
    assert recorded.request.kind == "command_approval"
    assert recorded.request.workspace_id == "ws_01JTESTWORKSPACE0000000000"
    assert recorded.request.details["command_approval"]["command"] == "rm -rf build"
    assert recorded.request.expires_at == recorded.request.created_at + timedelta(seconds=600)
    log = await log_of(database, run_id)
    assert types_of(log) == ["human_loop.requested", "status:waiting_human"]
    requested = log[0]
    assert requested.seq == recorded.seq == (await stored(database, question_id)).request_seq
    assert requested.turn_id == "turn-1"
    assert requested.human_loop_requested.question_id == question_id
    assert requested.human_loop_requested.expires_at.ToDatetime(tzinfo=UTC) == recorded.request.expires_at
    assert await run_status(database, run_id) == "waiting_human"

    async with database.session() as session:
        assert await queries.count_pending(session, TEST_TENANT) >= 1
        assert await queries.count_pending(session) >= await queries.count_pending(session, TEST_TENANT)
        assert await queries.count_pending(session, "ten_nobody") == 0

    again = await record(database, run_id, command_approval(question_id))
    assert (again.created, again.seq) == (False, recorded.seq)
    assert len(await log_of(database, run_id)) == 2


async def test_the_run_sets_the_timeout(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running", settings={"human_loop_timeout": "30s"})
    recorded = await record(database, run_id, command_approval(), default_timeout_s=600)
    assert recorded.request.expires_at == recorded.request.created_at + timedelta(seconds=30)


async def test_a_reply_resolves_wakes_the_owner_and_resumes_the_run(
    database: Database, make_run: RunFactory, wakeups: CommandWakeups
) -> None:
    run_id = await make_run("running")
    question_id = await ask(database, run_id)

    assert await reply(database, approval(run_id, question_id, ACCEPT)) == ("resolved", False)

    await wakeups.next_for(run_id)
    row = await stored(database, question_id)
    assert (row.status, row.answer, row.resolved_by, row.delivered) == (
        "resolved",
        ACCEPTED,
        "key_alice",
        False,
    )
    log = await log_of(database, run_id)
    assert types_of(log) == [
        "human_loop.requested",
        "status:waiting_human",
        "human_loop.resolved",
        "status:running",
    ]
    resolved = log[2].human_loop_resolved
    assert (resolved.question_id, resolved.resolved_by) == (question_id, "key_alice")
    assert resolved.answer.approval.decision == ACCEPT
    assert log[2].turn_id == "turn-1"
    assert await run_status(database, run_id) == "running"

    # The same answer again: the stored result, nothing written or re-sent.
    assert await reply(database, approval(run_id, question_id, ACCEPT)) == ("resolved", True)
    assert len(await log_of(database, run_id)) == 4
    assert wakeups.seen() == []


async def test_the_run_waits_until_every_request_is_answered(
    database: Database, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    first = await ask(database, run_id)
    second = await ask(database, run_id)
    assert await run_status(database, run_id) == "waiting_human"

    await reply(database, approval(run_id, first))
    assert await run_status(database, run_id) == "waiting_human"
    await reply(database, approval(run_id, second, DECLINE))
    assert await run_status(database, run_id) == "running"
    assert types_of(await log_of(database, run_id)) == [
        "human_loop.requested",
        "status:waiting_human",
        "human_loop.requested",
        "human_loop.resolved",
        "human_loop.resolved",
        "status:running",
    ]


async def test_deliveries_are_listed_until_the_executor_confirms_them(
    database: Database, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    first = await ask(database, run_id)
    second = await ask(database, run_id, user_input(question("q1", allow_other=True)))
    third = await ask(database, run_id)
    await reply(database, approval(run_id, first))
    await reply(database, answers(run_id, second, q1=["blue"]))

    async with database.session() as session:
        pending = await store.pending_deliveries(session, run_id)
    assert [(d.question_id, json_format.MessageToDict(d.answer)) for d in pending] == [
        (first, ACCEPTED),
        (second, {"questions": {"answers": {"q1": {"answers": ["blue"]}}}}),
    ]
    question_id, answer = pending[0]  # unpacks like a tuple
    assert (question_id, isinstance(answer, human_loop_pb2.HumanLoopAnswer)) == (first, True)

    async with database.session() as session, session.begin():
        assert await store.mark_delivered(session, first)
        # A re-send after a lost stream comes back as "already answered": delivered too.
        assert await store.mark_delivered(session, second, code=6, message="already answered")
        assert not await store.mark_delivered(session, first)
        assert not await store.mark_delivered(session, third)  # still pending: nothing to deliver
    async with database.session() as session:
        assert await store.pending_deliveries(session, run_id) == []
    assert (await stored(database, first)).delivered
    assert not [e for e in await log_of(database, run_id) if e.type == "warning"]


async def test_an_answer_the_agent_refused_is_reported(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running")
    question_id = await ask(database, run_id)
    await reply(database, approval(run_id, question_id))
    async with database.session() as session, session.begin():
        assert await store.mark_delivered(session, question_id, code=9, message="withdrawn by the agent")
    last = (await log_of(database, run_id))[-1]
    assert last.type == "warning"
    assert last.warning.reason == store.NOT_DELIVERED_REASON
    assert question_id in last.warning.message and "withdrawn by the agent" in last.warning.message
    async with database.session() as session:
        assert await store.pending_deliveries(session, run_id) == []


async def test_an_unanswered_request_expires_with_a_decline(
    database: Database, make_run: RunFactory, wakeups: CommandWakeups
) -> None:
    run_id = await make_run("running")
    recorded = await record(database, run_id, command_approval(), default_timeout_s=60)
    question_id = recorded.request.question_id
    assert recorded.request.expires_at is not None

    async with database.session() as session, session.begin():
        early = await store.expire_due(session, recorded.request.expires_at - timedelta(seconds=1))
    assert question_id not in [r.question_id for r in early]

    async with database.session() as session, session.begin():
        expired = await store.expire_due(session, recorded.request.expires_at)
    mine = [r for r in expired if r.run_id == run_id]
    assert [(r.question_id, r.status.value, r.answer) for r in mine] == [(question_id, "expired", DECLINED)]
    await wakeups.next_for(run_id)
    assert (await stored(database, question_id)).status == "expired"
    log = await log_of(database, run_id)
    assert types_of(log)[-2:] == ["human_loop.expired", "status:running"]
    assert log[-2].human_loop_expired.question_id == question_id
    assert log[-2].human_loop_expired.answer.approval.decision == DECLINE
    async with database.session() as session:
        assert [d.question_id for d in await store.pending_deliveries(session, run_id)] == [question_id]

    async with database.session() as session, session.begin():
        again = await store.expire_due(session, recorded.request.expires_at + timedelta(days=1))
    assert question_id not in [r.question_id for r in again]


async def test_an_expired_question_is_declined_the_way_codex_accepts(
    database: Database, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    recorded = await record(database, run_id, user_input(question("q1"), question("q2")), 5)
    assert recorded.request.expires_at is not None
    async with database.session() as session, session.begin():
        expired = await store.expire_due(session, recorded.request.expires_at)
    # The executor turns an approval decline on a question into empty answers.
    assert [r.answer for r in expired if r.run_id == run_id] == [DECLINED]


async def test_stopping_cancels_every_pending_request(database: Database, make_run: RunFactory) -> None:
    run_id = await make_run("running")
    first = await ask(database, run_id)
    second = await ask(database, run_id)
    answered = await ask(database, run_id)
    await reply(database, approval(run_id, answered))

    async with database.session() as session, session.begin():
        canceled = await store.cancel_pending(session, run_id, "stopped by request")
        stopped = await transition(session, run_id, RunStatus.CANCELED, "stopped by request")
    assert [r.question_id for r in canceled] == [first, second]
    assert stopped.accepted
    assert [(await stored(database, q)).status for q in (first, second, answered)] == [
        "canceled",
        "canceled",
        "resolved",
    ]
    log = await log_of(database, run_id)
    assert types_of(log)[-4:] == [
        "human_loop.canceled",
        "human_loop.canceled",
        "status:running",
        "status:canceled",
    ]
    assert {e.human_loop_canceled.reason for e in log[-4:-2]} == {"stopped by request"}
    async with database.session() as session, session.begin():
        assert await store.cancel_pending(session, run_id, "again") == []


async def test_a_request_the_agent_withdrew_is_canceled_once(
    database: Database, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    question_id = await ask(database, run_id)
    answered = await ask(database, run_id)
    await reply(database, approval(run_id, answered))

    async with database.session() as session, session.begin():
        assert await store.on_withdrawn(session, run_id, withdrawn(question_id))
        # Already answered: stays resolved, the executor's event is not stored.
        assert not await store.on_withdrawn(session, run_id, withdrawn(answered))
        assert not await store.on_withdrawn(session, run_id, withdrawn(question_id))
    assert (await stored(database, question_id)).status == "canceled"
    assert (await stored(database, answered)).status == "resolved"
    log = await log_of(database, run_id)
    assert types_of(log)[-2:] == ["human_loop.canceled", "status:running"]
    assert [e.human_loop_canceled.question_id for e in log if e.type == "human_loop.canceled"] == [
        question_id
    ]


async def test_a_lost_run_keeps_its_status_and_waits_again_after_reattaching(
    database: Database, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    first = await ask(database, run_id)
    second = await ask(database, run_id)
    async with database.session() as session, session.begin():
        await transition(session, run_id, RunStatus.LOST, "executor vanished")
    await reply(database, approval(run_id, first))
    assert await run_status(database, run_id) == "lost"

    async with database.session() as session, session.begin():
        await transition(session, run_id, RunStatus.RUNNING, "re-attached")
        moved = await store.settle_run_status(session, run_id)
    assert moved is not None and moved.status == RunStatus.WAITING_HUMAN
    await reply(database, approval(run_id, second))
    assert await run_status(database, run_id) == "running"


async def test_session_events_keep_their_order_around_status_changes(
    database: Database, make_run: RunFactory
) -> None:
    run_id = await make_run("running")
    asked = command_approval()
    question_id = asked.human_loop_requested.question_id
    replayed = command_approval(question_id)
    async with database.session() as session, session.begin():
        await append_session_events(
            session,
            run_id,
            [delta("a"), asked, delta("b"), replayed, withdrawn(question_id), delta("c")],
            default_timeout_s=60,
        )
    assert types_of(await log_of(database, run_id)) == [
        "message.delta",
        "human_loop.requested",
        "status:waiting_human",
        "message.delta",
        "human_loop.canceled",
        "status:running",
        "message.delta",
    ]
    assert (await stored(database, question_id)).status == "canceled"
