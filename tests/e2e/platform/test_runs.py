"""Runs end to end: PostgreSQL, control plane, executor-manager, executors,
the real codex binary and the scripted model."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import psutil
import pytest
from sqlalchemy import func, select

from ccplane.v1 import common_pb2, events_pb2, executor_pb2, executor_pb2_grpc, runs_pb2, runs_pb2_grpc
from common.cli.stack import Stack
from common.db import models
from common.db.engine import Database
from tests.e2e.platform.conftest import WAIT_S, follow, of_type, status_event, workspace_file
from tests.keys import internal_channel


async def create(runs: runs_pb2_grpc.RunServiceStub, prompt: str, **fields: object) -> runs_pb2.Run:
    return (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt=prompt, **fields))).run  # type: ignore[arg-type]


def explain(events: list) -> str:
    """What went wrong in a run, for assertion messages."""
    lines = [f"{e.seq} {e.type} {e.status_changed.reason} {e.status_changed.error}" for e in events]
    lines += [f"error: {e.error.message}" for e in events if e.type == "error"]
    return "\n".join(lines)


def assert_gap_free(events: list, start: int = 1) -> None:
    assert [e.seq for e in events] == list(range(start, start + len(events)))


async def test_run_succeeds_and_everything_is_recorded(
    stack: Stack, runs: runs_pb2_grpc.RunServiceStub, platform_db_url: str
) -> None:
    database = Database(platform_db_url)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    run = (
        await runs.CreateRun(
            runs_pb2.CreateRunRequest(prompt="[scenario:quick] write hello.txt"),
            metadata=(("traceparent", f"00-{trace_id}-00f067aa0ba902b7-01"),),
        )
    ).run
    assert run.trace_id == trace_id, "the caller's W3C trace continues"
    events = await follow(runs, run.id)
    assert_gap_free(events)
    statuses = [e.status_changed.status for e in events if e.type == "run.status_changed"]
    assert statuses == [
        common_pb2.RUN_STATUS_QUEUED,
        common_pb2.RUN_STATUS_STARTING,
        common_pb2.RUN_STATUS_RUNNING,
        common_pb2.RUN_STATUS_SUCCEEDED,
    ], explain(events)
    assert events[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED, (
        "the stream ends after the final event"
    )
    (command,) = [e for e in events if e.type == "command.completed"]
    assert command.command_completed.exit_code == 0 and "hello" in command.command_completed.output
    assert [e.message_completed.text for e in events if e.type == "message.completed"] == ["Wrote hello.txt."]
    assert {e.trace_id for e in events} == {trace_id}

    done = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=run.id))).run
    assert done.status == common_pb2.RUN_STATUS_SUCCEEDED
    assert done.thread_id and done.executor_id
    assert done.last_seq == events[-1].seq
    assert done.usage.input_tokens > 0 and done.usage.total_tokens > 0
    assert await workspace_file(stack, done, "hello.txt") == b"hello\n"

    async with database.session() as session:
        stored = (
            await session.execute(
                select(func.count(), func.max(models.RunEvent.seq)).where(models.RunEvent.run_id == run.id)
            )
        ).one()
        usage_rows = (
            (await session.execute(select(models.UsageLog).where(models.UsageLog.run_id == run.id)))
            .scalars()
            .all()
        )
        row = await session.get_one(models.AgentRun, run.id)
    assert tuple(stored) == (len(events), len(events))
    (usage,) = usage_rows
    turn_ids = {e.turn_id for e in events if e.type == "turn.completed"}
    assert usage.turn_id in turn_ids
    assert usage.model == done.model
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (
        row.input_tokens,
        row.output_tokens,
        row.total_tokens,
    )
    assert row.status == "succeeded" and row.finished_at is not None
    await database.close()


async def test_trace_reaches_the_executor(stack: Stack, runs: runs_pb2_grpc.RunServiceStub) -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    untrusted = runs_pb2.RunSettings(approval_mode=runs_pb2.APPROVAL_MODE_UNTRUSTED)
    run = (
        await runs.CreateRun(
            runs_pb2.CreateRunRequest(prompt="[scenario:approve] touch a file", settings=untrusted),
            metadata=(("traceparent", f"00-{trace_id}-b7ad6b7169203331-01"),),
        )
    ).run
    await follow(runs, run.id, until=of_type("human_loop.requested"))
    live = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=run.id))).run
    async with internal_channel(await executor_address(stack, live.executor_id)) as channel:
        status = await executor_pb2_grpc.ExecutorServiceStub(channel).GetStatus(
            executor_pb2.GetStatusRequest()
        )
    (session,) = [s for s in status.sessions if s.run_id == run.id]
    assert session.trace_id == trace_id, "trace context travelled control plane -> executor in gRPC metadata"
    stopped = (await runs.StopRun(runs_pb2.StopRunRequest(run_id=run.id))).run
    assert stopped.status == common_pb2.RUN_STATUS_CANCELED


async def executor_address(stack: Stack, executor_id: str) -> str:
    from ccplane.v1 import executor_manager_pb2, executor_manager_pb2_grpc

    assert stack.manager is not None
    async with internal_channel(stack.manager.address) as channel:
        listed = await executor_manager_pb2_grpc.ExecutorManagerServiceStub(channel).ListExecutors(
            executor_manager_pb2.ListExecutorsRequest()
        )
    return next(e.address for e in listed.executors if e.id == executor_id)


async def test_subscriber_cut_off_resumes_without_gap_or_duplicate(
    runs: runs_pb2_grpc.RunServiceStub,
) -> None:
    run = await create(runs, "[scenario:slow] take your time")
    first = await follow(runs, run.id, until=of_type("command.completed"))
    rest = await follow(runs, run.id, after_seq=first[-1].seq)
    assert_gap_free(first + rest)
    assert rest[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED
    replay = await follow(runs, run.id)
    assert [(e.seq, e.type) for e in replay] == [(e.seq, e.type) for e in first + rest]
    late = await follow(runs, run.id, after_seq=rest[-1].seq)
    assert late == [], "a stream opened after the end ends at once"


def command_processes(stack: Stack, executor_id: str, command: str) -> list[psutil.Process]:
    """The live processes of ``command`` under the stack's executor
    ``executor_id``: those whose command line holds it (Codex's sandbox
    wrappers, the shell) and everything they started. Only this stack's:
    other suites or services may run the same commands."""
    assert stack.manager is not None and stack.manager.pool is not None
    handle = stack.manager.pool.handle(executor_id)
    assert handle is not None and handle.backend == "local", "the stack runs executors as local processes"
    found: dict[int, psutil.Process] = {}
    with contextlib.suppress(psutil.NoSuchProcess):
        for proc in alive(psutil.Process(int(handle.ref)).children(recursive=True)):
            if command in cmdline(proc):
                with contextlib.suppress(psutil.NoSuchProcess):
                    found.update((p.pid, p) for p in [proc, *proc.children(recursive=True)])
    return alive(list(found.values()))


def cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Those of ``procs`` still running. A psutil handle stays bound to its
    process (a reused pid is another), orphaned or not; a zombie is gone."""
    found = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


async def test_stop_during_a_long_command(stack: Stack, runs: runs_pb2_grpc.RunServiceStub) -> None:
    long_command = "sleep 30 && echo finished-long"
    run = await create(runs, "[scenario:long] sleep a while")
    await follow(runs, run.id, until=of_type("command.started"))
    executor_id = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=run.id))).run.executor_id
    # Handles on the command's processes, down to the sleep itself, before
    # the stop: they stay in sight should the stop orphan them.
    async with asyncio.timeout(WAIT_S):
        while True:
            command = command_processes(stack, executor_id, long_command)
            if any(cmdline(p) == "sleep 30" for p in command):
                break
            await asyncio.sleep(0.05)  # no event tells when a process has exec-ed
    stopped = (await runs.StopRun(runs_pb2.StopRunRequest(run_id=run.id, reason="too slow"))).run
    assert stopped.status == common_pb2.RUN_STATUS_CANCELED
    events = await follow(runs, run.id)
    assert_gap_free(events)
    assert events[-1].status_changed.status == common_pb2.RUN_STATUS_CANCELED
    assert "finished-long" not in "".join(
        e.command_completed.output for e in events if e.type == "command.completed"
    )
    _, survivors = await asyncio.to_thread(psutil.wait_procs, alive(command), timeout=10)
    assert alive(survivors) == [], "the command was killed"
    assert command_processes(stack, executor_id, long_command) == []


async def test_follow_up_message_continues_the_thread(
    stack: Stack, runs: runs_pb2_grpc.RunServiceStub
) -> None:
    run = await create(runs, "[scenario:chat] remember the word PELICAN")
    first = await follow(runs, run.id)
    assert first[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED
    sent = await runs.SendMessage(runs_pb2.SendMessageRequest(run_id=run.id, text="what was the word?"))
    assert sent.delivery == runs_pb2.MESSAGE_DELIVERY_FOLLOW_UP
    rest = await follow(runs, run.id, after_seq=first[-1].seq)
    assert_gap_free(first + rest)
    statuses = [e.status_changed.status for e in rest if e.type == "run.status_changed"]
    assert statuses[0] == common_pb2.RUN_STATUS_QUEUED and statuses[-1] == common_pb2.RUN_STATUS_SUCCEEDED
    assert any(e.type == "message.user" and e.user_message.text == "what was the word?" for e in rest), [
        (e.type, e.user_message.text, e.status_changed.reason, e.error.message) for e in rest
    ]
    done = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=run.id))).run
    assert done.thread_id == first_thread(first)
    assert stack.model is not None
    follow_up = [r for r in stack.model.requests if r.contains("what was the word?")]
    assert follow_up and follow_up[0].contains("remember the word PELICAN"), (
        "the model saw the earlier history"
    )


def first_thread(events: list) -> str:
    return next(e.thread_started.thread_id for e in events if e.type == "thread.started")


async def test_stateless_runs_refuse_follow_ups(runs: runs_pb2_grpc.RunServiceStub) -> None:
    stateless = runs_pb2.RunSettings(thread_mode=runs_pb2.THREAD_MODE_STATELESS)
    run = await create(runs, "[scenario:chat] one shot", settings=stateless)
    await follow(runs, run.id)
    try:
        await runs.SendMessage(runs_pb2.SendMessageRequest(run_id=run.id, text="more"))
    except grpc.aio.AioRpcError as err:
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "stateless" in (err.details() or "")
    else:
        raise AssertionError("a follow-up on a stateless run must be refused")


async def test_twenty_concurrent_runs_share_the_slots(runs: runs_pb2_grpc.RunServiceStub) -> None:
    created = await asyncio.gather(*(create(runs, f"[scenario:quick] concurrent run {i}") for i in range(20)))
    logs = await asyncio.gather(*(follow(runs, r.id) for r in created))
    for log in logs:
        assert_gap_free(log)
        assert log[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED
    # 2 executors x 4 slots: never more than 8 sessions at once, so the
    # other runs waited in the queue and started as slots freed.
    spans = []
    for log in logs:
        start = next(e.time.ToNanoseconds() for e in log if status_event(common_pb2.RUN_STATUS_STARTING)(e))
        end = log[-1].time.ToNanoseconds()
        spans.append((start, end))
    points = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    live = peak = 0
    for _, delta in points:
        live += delta
        peak = max(peak, live)
    assert peak <= 8


async def test_resume_a_thread_on_another_executor(stack: Stack, runs: runs_pb2_grpc.RunServiceStub) -> None:
    from ccplane.v1 import executor_manager_pb2, executor_manager_pb2_grpc

    first = await create(runs, "[scenario:chat] the secret is OSTRICH")
    await follow(runs, first.id)
    first = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=first.id))).run
    assert stack.manager is not None
    async with internal_channel(stack.manager.address) as channel:
        await executor_manager_pb2_grpc.ExecutorManagerServiceStub(channel).DrainExecutor(
            executor_manager_pb2.DrainExecutorRequest(executor_id=first.executor_id)
        )
    second = await create(runs, "[scenario:chat] what is the secret?", resume_thread_id=first.thread_id)
    events = await follow(runs, second.id)
    assert events[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED, [e.type for e in events]
    second = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=second.id))).run
    assert second.executor_id != first.executor_id
    assert second.thread_id == first.thread_id
    assert stack.model is not None
    asked = [r for r in stack.model.requests if r.contains("what is the secret?")]
    assert asked and asked[0].contains("the secret is OSTRICH"), "the second executor continued the thread"
    # The second executor resumed the first run's thread from its saved
    # state (it did not start a new one), and answered on it.
    assert [
        (e.thread_started.thread_id, e.thread_started.resumed) for e in events if e.type == "thread.started"
    ] == [(first.thread_id, True)], explain(events)
    assert [e.message_completed.text for e in events if e.type == "message.completed"] == [
        "[ccplane scripted model] Noted."
    ]


async def test_interrupt_ends_the_turn_and_the_run_stays_usable(runs: runs_pb2_grpc.RunServiceStub) -> None:
    run = await create(runs, "[scenario:long] sleep a while")
    started = await follow(runs, run.id, until=of_type("command.started"))
    print(explain(started), [(e.type, e.command_started.command) for e in started])
    interrupted = await runs.InterruptRun(runs_pb2.InterruptRunRequest(run_id=run.id, reason="enough"))
    assert interrupted.run.id == run.id
    events = await follow(runs, run.id)
    assert_gap_free(events)
    (turn,) = [e.turn_completed for e in events if e.type == "turn.completed"]
    assert turn.status == events_pb2.TURN_STATUS_INTERRUPTED, explain(events)
    assert "finished-long" not in "".join(
        e.command_completed.output for e in events if e.type == "command.completed"
    )
    # The session ends with the interrupted turn; the thread lives on for follow-ups.
    assert events[-1].type == "run.status_changed", explain(events)

    sent = await runs.SendMessage(runs_pb2.SendMessageRequest(run_id=run.id, text="[scenario:chat] go on"))
    assert sent.delivery == runs_pb2.MESSAGE_DELIVERY_FOLLOW_UP
    rest = await follow(runs, run.id, after_seq=events[-1].seq)
    assert rest[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED, explain(rest)

    with pytest.raises(grpc.aio.AioRpcError) as finished:
        await runs.InterruptRun(runs_pb2.InterruptRunRequest(run_id=run.id))
    assert finished.value.code() == grpc.StatusCode.FAILED_PRECONDITION
