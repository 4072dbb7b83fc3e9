"""The human loop end to end: real codex asks, a person answers over gRPC,
the answer reaches Codex, the run goes on."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import grpc
import pytest
from sqlalchemy import select

from ccplane.v1 import (
    common_pb2,
    events_pb2,
    human_loop_pb2,
    human_loop_pb2_grpc,
    reconcile_pb2,
    reconcile_pb2_grpc,
    runs_pb2,
    runs_pb2_grpc,
)
from common.cli.stack import Stack
from common.db import models
from common.db.engine import Database
from control_plane.human_loop.convert import answer_from_json
from tests.e2e.platform.conftest import follow, of_type, workspace_file

UNTRUSTED = runs_pb2.RunSettings(approval_mode=runs_pb2.APPROVAL_MODE_UNTRUSTED)
ACCEPT = human_loop_pb2.ApprovalAnswer(decision=human_loop_pb2.APPROVAL_DECISION_ACCEPT)
DECLINE = human_loop_pb2.ApprovalAnswer(decision=human_loop_pb2.APPROVAL_DECISION_DECLINE)


@pytest.fixture
async def human_loop(stack: Stack) -> human_loop_pb2_grpc.HumanLoopServiceStub:
    channel = stack.channel()
    return human_loop_pb2_grpc.HumanLoopServiceStub(channel)


async def start_waiting(
    runs: runs_pb2_grpc.RunServiceStub, prompt: str, **settings: object
) -> tuple[str, str]:
    run = (
        await runs.CreateRun(
            runs_pb2.CreateRunRequest(prompt=prompt, settings=runs_pb2.RunSettings(**settings))  # type: ignore[arg-type]
        )
    ).run
    asked = await follow(runs, run.id, until=of_type("human_loop.requested"))
    return run.id, asked[-1].human_loop_requested.question_id


async def request_row(platform_db_url: str, question_id: str) -> models.HumanLoopRequest:
    database = Database(platform_db_url)
    try:
        async with database.session() as session:
            return await session.get_one(models.HumanLoopRequest, question_id)
    finally:
        await database.close()


def tool_outputs(stack: Stack, prompt: str) -> list[str]:
    """What Codex told the model its tool calls gave, in the run started with
    ``prompt`` (the tool results of the last model request of that run)."""
    assert stack.model is not None
    requests = [r for r in stack.model.requests if r.contains(prompt)]
    assert requests, f"the model never saw {prompt!r}"
    outputs = []
    for item in requests[-1].json["input"]:
        if str(item.get("type", "")).endswith("_output"):
            output = item["output"]
            outputs.append(output if isinstance(output, str) else json.dumps(output))
    return outputs


def refused(tool_output: str) -> bool:
    """Whether a tool result tells the model the person refused the call."""
    text = tool_output.lower()
    return "rejected" in text or "declined" in text


async def wait_status(runs: runs_pb2_grpc.RunServiceStub, run_id: str, status: int) -> runs_pb2.Run:
    async with asyncio.timeout(30):
        while (run := (await runs.GetRun(runs_pb2.GetRunRequest(run_id=run_id))).run).status != status:
            await follow(runs, run_id, after_seq=run.last_seq, until=lambda e: True)
    return run


async def test_approve_a_command(
    stack: Stack,
    runs: runs_pb2_grpc.RunServiceStub,
    human_loop: human_loop_pb2_grpc.HumanLoopServiceStub,
    platform_db_url: str,
) -> None:
    run_id, question_id = await start_waiting(runs, "[scenario:approve] touch a file", approval_mode=4)
    waiting = await wait_status(runs, run_id, common_pb2.RUN_STATUS_WAITING_HUMAN)
    pending = await human_loop.ListPendingRequests(human_loop_pb2.ListPendingRequestsRequest(run_id=run_id))
    (request,) = pending.requests
    assert request.question_id == question_id
    assert request.kind == human_loop_pb2.HUMAN_LOOP_KIND_COMMAND_APPROVAL
    assert "touch approved.txt" in request.details.command_approval.command
    assert request.expires_at.seconds > 0
    row = await request_row(platform_db_url, question_id)
    assert row.status == "pending" and row.delivered_at is None

    reply = await human_loop.Reply(
        human_loop_pb2.ReplyRequest(run_id=run_id, question_id=question_id, approval=ACCEPT)
    )
    assert reply.request.status == human_loop_pb2.HUMAN_LOOP_STATUS_RESOLVED and not reply.already_resolved
    events = await follow(runs, run_id)
    assert events[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED
    statuses = [e.status_changed.status for e in events if e.type == "run.status_changed"]
    assert statuses[-3:] == [
        common_pb2.RUN_STATUS_WAITING_HUMAN,
        common_pb2.RUN_STATUS_RUNNING,
        common_pb2.RUN_STATUS_SUCCEEDED,
    ]
    assert [e.human_loop_resolved.question_id for e in events if e.type == "human_loop.resolved"] == [
        question_id
    ]
    assert await workspace_file(stack, waiting, "approved.txt") is not None, "the approved command ran"
    outputs = tool_outputs(stack, "[scenario:approve] touch a file")
    assert len(outputs) == 1 and not refused(outputs[0]), outputs
    row = await request_row(platform_db_url, question_id)
    assert row.status == "resolved" and row.delivered_at is not None and row.resolved_at is not None

    same = await human_loop.Reply(
        human_loop_pb2.ReplyRequest(run_id=run_id, question_id=question_id, approval=ACCEPT)
    )
    assert same.already_resolved
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await human_loop.Reply(
            human_loop_pb2.ReplyRequest(run_id=run_id, question_id=question_id, approval=DECLINE)
        )
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_decline_a_command(
    stack: Stack, runs: runs_pb2_grpc.RunServiceStub, human_loop: human_loop_pb2_grpc.HumanLoopServiceStub
) -> None:
    run_id, question_id = await start_waiting(runs, "[scenario:approve] try to touch a file", approval_mode=4)
    await human_loop.Reply(
        human_loop_pb2.ReplyRequest(run_id=run_id, question_id=question_id, approval=DECLINE)
    )
    events = await follow(runs, run_id)
    assert events[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED, "the run continues"
    run = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=run_id))).run
    assert await workspace_file(stack, run, "approved.txt") is None, "the declined command did not run"
    assert [e.command_completed.status for e in events if e.type == "command.completed"] == [
        events_pb2.COMMAND_STATUS_DECLINED
    ]
    # The agent was told the command was declined (an approved one reports its exit instead).
    outputs = tool_outputs(stack, "[scenario:approve] try to touch a file")
    assert len(outputs) == 1 and refused(outputs[0]), outputs


async def test_answer_a_question(
    stack: Stack, runs: runs_pb2_grpc.RunServiceStub, human_loop: human_loop_pb2_grpc.HumanLoopServiceStub
) -> None:
    run_id, question_id = await start_waiting(runs, "[scenario:ask] pick a colour", approval_mode=1)
    request = (await human_loop.GetRequest(human_loop_pb2.GetRequestRequest(question_id=question_id))).request
    assert request.kind == human_loop_pb2.HUMAN_LOOP_KIND_USER_INPUT
    assert [q.id for q in request.details.user_input.questions] == ["colour"]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await human_loop.Reply(
            human_loop_pb2.ReplyRequest(run_id=run_id, question_id=question_id, approval=ACCEPT)
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    answers = human_loop_pb2.QuestionAnswers(
        answers={"colour": human_loop_pb2.QuestionAnswer(answers=["Blue"])}
    )
    await human_loop.Reply(
        human_loop_pb2.ReplyRequest(run_id=run_id, question_id=question_id, questions=answers)
    )
    events = await follow(runs, run_id)
    assert events[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED
    assert [e.message_completed.text for e in events if e.type == "message.completed"] == ["Blue it is."]
    assert stack.model is not None
    assert any(r.contains("pick a colour") and r.contains("Blue") for r in stack.model.requests)


async def test_fifty_identical_replies_reach_codex_once(
    runs: runs_pb2_grpc.RunServiceStub, human_loop: human_loop_pb2_grpc.HumanLoopServiceStub
) -> None:
    run_id, question_id = await start_waiting(runs, "[scenario:approve] many clicks", approval_mode=4)
    request = human_loop_pb2.ReplyRequest(run_id=run_id, question_id=question_id, approval=ACCEPT)
    replies = await asyncio.gather(*(human_loop.Reply(request) for _ in range(50)))
    assert sum(not r.already_resolved for r in replies) == 1
    events = await follow(runs, run_id)
    assert events[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED
    assert len([e for e in events if e.type == "human_loop.resolved"]) == 1
    assert not [e for e in events if e.type == "warning" and e.warning.reason == "HUMAN_LOOP_NOT_DELIVERED"]
    assert len([e for e in events if e.type == "command.completed"]) == 1


async def test_conflicting_replies(
    stack: Stack,
    runs: runs_pb2_grpc.RunServiceStub,
    human_loop: human_loop_pb2_grpc.HumanLoopServiceStub,
    platform_db_url: str,
) -> None:
    prompt = "[scenario:approve] conflict"
    run_id, question_id = await start_waiting(runs, prompt, approval_mode=4)
    answers = [ACCEPT, DECLINE] * 5
    results = await asyncio.gather(
        *(
            human_loop.Reply(
                human_loop_pb2.ReplyRequest(run_id=run_id, question_id=question_id, approval=answer)
            )
            for answer in answers
        ),
        return_exceptions=True,
    )
    winners = [
        (answer, r)
        for answer, r in zip(answers, results, strict=True)
        if isinstance(r, human_loop_pb2.ReplyResponse) and not r.already_resolved
    ]
    assert len(winners) == 1, results
    won, winner = winners[0]
    assert winner.request.status == human_loop_pb2.HUMAN_LOOP_STATUS_RESOLVED
    assert winner.request.answer.approval == won
    # Every other reply is judged against the winning answer: the same answer
    # was already given, the other one is refused.
    for answer, result in zip(answers, results, strict=True):
        if answer == won:
            assert isinstance(result, human_loop_pb2.ReplyResponse), result
            assert result.request.answer.approval == won
        else:
            assert isinstance(result, grpc.aio.AioRpcError), result
            assert result.code() == grpc.StatusCode.ALREADY_EXISTS

    # The run went the winning answer's way, and only that way.
    accepted = won.decision == human_loop_pb2.APPROVAL_DECISION_ACCEPT
    events = await follow(runs, run_id)
    assert events[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED
    resolved = [e.human_loop_resolved for e in events if e.type == "human_loop.resolved"]
    assert [(r.question_id, r.answer.approval.decision) for r in resolved] == [(question_id, won.decision)]
    assert [e.command_completed.status for e in events if e.type == "command.completed"] == [
        events_pb2.COMMAND_STATUS_COMPLETED if accepted else events_pb2.COMMAND_STATUS_DECLINED
    ]
    run = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=run_id))).run
    assert (await workspace_file(stack, run, "approved.txt") is not None) is accepted
    outputs = tool_outputs(stack, prompt)
    assert len(outputs) == 1 and refused(outputs[0]) is not accepted, (won, outputs)
    row = await request_row(platform_db_url, question_id)
    assert row.status == "resolved" and row.answer is not None
    assert answer_from_json(row.answer).approval == won, row.answer


async def test_timeout_expires_and_the_run_goes_on(
    stack: Stack, runs: runs_pb2_grpc.RunServiceStub, platform_db_url: str
) -> None:
    from google.protobuf import duration_pb2

    # Only the ExpireHumanLoopRequests call below may expire the request (not
    # the control plane's own periodic sweep), so its answer must list it.
    assert stack.control_plane is not None and stack.control_plane.sweeper is not None
    sweeper = stack.control_plane.sweeper
    await sweeper.stop()
    try:
        run = (
            await runs.CreateRun(
                runs_pb2.CreateRunRequest(
                    prompt="[scenario:approve] nobody answers",
                    settings=runs_pb2.RunSettings(
                        approval_mode=runs_pb2.APPROVAL_MODE_UNTRUSTED,
                        human_loop_timeout=duration_pb2.Duration(seconds=1),
                    ),
                )
            )
        ).run
        asked = await follow(runs, run.id, until=of_type("human_loop.requested"))
        question_id = asked[-1].human_loop_requested.question_id
        row = await request_row(platform_db_url, question_id)
        deadline = row.expires_at
        assert row.status == "pending" and deadline is not None
        reconcile = reconcile_pb2_grpc.ReconcileServiceStub(stack.channel())
        expired: list[human_loop_pb2.HumanLoopRequest] = []
        async with asyncio.timeout(20):
            while row.status == "pending":
                # No event tells that a deadline has passed: wait for it, then ask.
                await asyncio.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds()) + 0.1)
                response = await reconcile.ExpireHumanLoopRequests(
                    reconcile_pb2.ExpireHumanLoopRequestsRequest()
                )
                expired += [r for r in response.expired if r.run_id == run.id]
                row = await request_row(platform_db_url, question_id)
    finally:
        sweeper.start()
    assert [(r.question_id, r.status) for r in expired] == [
        (question_id, human_loop_pb2.HUMAN_LOOP_STATUS_EXPIRED)
    ]
    assert expired[0].answer.approval.decision == human_loop_pb2.APPROVAL_DECISION_DECLINE
    assert row.status == "expired"
    events = await follow(runs, run.id)
    assert [e.human_loop_expired.question_id for e in events if e.type == "human_loop.expired"] == [
        question_id
    ]
    assert events[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED, (
        "Codex got a decline and went on"
    )
    assert await workspace_file(stack, run, "approved.txt") is None
    outputs = tool_outputs(stack, "[scenario:approve] nobody answers")
    assert len(outputs) == 1 and refused(outputs[0]), outputs


async def test_stop_while_waiting_cancels_the_request(
    runs: runs_pb2_grpc.RunServiceStub,
    human_loop: human_loop_pb2_grpc.HumanLoopServiceStub,
    platform_db_url: str,
) -> None:
    run_id, question_id = await start_waiting(runs, "[scenario:approve] stop me", approval_mode=4)
    stopped = (await runs.StopRun(runs_pb2.StopRunRequest(run_id=run_id, reason="no"))).run
    assert stopped.status == common_pb2.RUN_STATUS_CANCELED
    events = await follow(runs, run_id)
    assert any(
        e.type == "human_loop.canceled" and e.human_loop_canceled.question_id == question_id for e in events
    )
    assert (await request_row(platform_db_url, question_id)).status == "canceled"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await human_loop.Reply(
            human_loop_pb2.ReplyRequest(run_id=run_id, question_id=question_id, approval=ACCEPT)
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "cancel" in (err.value.details() or "")


async def test_todos_follow_the_plan(runs: runs_pb2_grpc.RunServiceStub, platform_db_url: str) -> None:
    run = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:plan] make a plan"))).run
    events = await follow(runs, run.id)
    assert events[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED
    updates = [e.todos_updated for e in events if e.type == "todos.updated"]
    assert [u.version for u in updates] == [1, 2, 3]
    todos = await runs.ListTodos(runs_pb2.ListTodosRequest(run_id=run.id))
    assert todos.version == 3
    assert [(t.text, t.status) for t in todos.items] == [
        ("Look around", common_pb2.TODO_STATUS_COMPLETED),
        ("Write notes", common_pb2.TODO_STATUS_COMPLETED),
        ("Report", common_pb2.TODO_STATUS_COMPLETED),
    ]
    streamed = [v async for v in runs.StreamTodoEvents(runs_pb2.StreamTodoEventsRequest(run_id=run.id))]
    assert [v.version for v in streamed] == [1, 2, 3]
    assert streamed[0].items[0].status == common_pb2.TODO_STATUS_IN_PROGRESS
    resumed = [
        v
        async for v in runs.StreamTodoEvents(runs_pb2.StreamTodoEventsRequest(run_id=run.id, after_version=2))
    ]
    assert [v.version for v in resumed] == [3]
    database = Database(platform_db_url)
    try:
        async with database.session() as session:
            rows = (
                (
                    await session.execute(
                        select(models.RunTodos.version).where(models.RunTodos.run_id == run.id)
                    )
                )
                .scalars()
                .all()
            )
    finally:
        await database.close()
    assert sorted(rows) == [1, 2, 3]


async def test_connect_subscribes_and_replies_over_one_stream(runs: runs_pb2_grpc.RunServiceStub) -> None:
    run = (
        await runs.CreateRun(
            runs_pb2.CreateRunRequest(prompt="[scenario:approve] over connect", settings=UNTRUSTED)
        )
    ).run
    outgoing: asyncio.Queue[runs_pb2.ConnectRequest | None] = asyncio.Queue()
    outgoing.put_nowait(runs_pb2.ConnectRequest(subscribe=runs_pb2.ConnectSubscribe(run_id=run.id)))

    async def requests():  # type: ignore[no-untyped-def]
        while (item := await outgoing.get()) is not None:
            yield item

    call = runs.Connect(requests())
    seen: list[str] = []
    acks = []
    async with asyncio.timeout(60):
        async for message in call:
            if message.WhichOneof("message") == "ack":
                acks.append(message.ack)
                continue
            event = message.event
            seen.append(event.type)
            if event.type == "human_loop.requested":
                outgoing.put_nowait(
                    runs_pb2.ConnectRequest(
                        reply=human_loop_pb2.ReplyRequest(
                            question_id=event.human_loop_requested.question_id, approval=ACCEPT
                        )
                    )
                )
    outgoing.put_nowait(None)
    assert [(a.action, a.code) for a in acks] == [("reply", 0)]
    assert acks[0].reply_result.request.status == human_loop_pb2.HUMAN_LOOP_STATUS_RESOLVED
    assert seen[-1] == "run.status_changed" and "human_loop.resolved" in seen
    final = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=run.id))).run
    assert final.status == common_pb2.RUN_STATUS_SUCCEEDED
