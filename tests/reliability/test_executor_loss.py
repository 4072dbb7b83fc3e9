"""An executor dies under a live run: the platform settles it on its own.

SIGKILL to the executor process that hosts a run waiting for a person. The
manager sees the process exit and revokes the lease; the run goes ``lost``,
then ``failed`` with ``EXECUTOR_LOST`` (its executor, restarted by the pool,
no longer has the session), its pending question is canceled and an alert
recorded, with nobody calling anything. A follow-up message continues the
conversation from the last saved turn. SIGSTOP instead (a hung executor)
takes the heartbeat path: lost when it goes silent, failed after the grace
period; and one that wakes up within the grace period heals.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator

import psutil
import pytest
import pytest_asyncio

from ccplane.v1 import (
    common_pb2,
    human_loop_pb2,
    human_loop_pb2_grpc,
    reconcile_pb2,
    reconcile_pb2_grpc,
    runs_pb2,
    runs_pb2_grpc,
)
from common.cli.stack import Stack
from tests.platform import own_database, scenario_library
from tests.reliability.conftest import QUESTION, all_events, assert_gap_free, fault_platform, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FAILED = {common_pb2.RUN_STATUS_FAILED}
FINAL = {common_pb2.RUN_STATUS_SUCCEEDED, common_pb2.RUN_STATUS_FAILED, common_pb2.RUN_STATUS_CANCELED}
# Process exit is seen within a second; a restarted executor answers that it
# lost the session, so the run fails well within this.
KILL_BOUND_S = 20.0
# SIGSTOP: heartbeat timeout (3 s) + grace (3 s) + a pass (0.5 s) + slack.
HANG_BOUND_S = 20.0

LIBRARY = {
    # Turn 1 answers; turn 2 asks a person (and is killed); turn 3 must see
    # turn 1's prompt (the word) in the conversation it is sent.
    "remember": {
        "steps": [
            {"output": [{"message": "Noted the word."}]},
            {"output": [QUESTION]},
            {"when_contains": "kumquat", "output": [{"message": "The word was kumquat."}]},
        ]
    },
    "wait": {
        "steps": [
            {"output": [QUESTION]},
            {"when_contains": "Yes", "output": [{"message": "Went on."}]},
        ]
    },
}


@pytest.fixture(scope="module")
def loss_db_url(postgres_server_url: str) -> Iterator[str]:
    with own_database(postgres_server_url, "ccplane_loss") as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(loss_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with fault_platform(
        loss_db_url, tmp_path_factory.mktemp("ccplane-loss"), scenario_library("loss", LIBRARY)
    ) as stack:
        yield stack


@pytest_asyncio.fixture(loop_scope="session")
async def runs(stack: Stack) -> AsyncIterator[runs_pb2_grpc.RunServiceStub]:
    async with stack.channel() as channel:
        yield runs_pb2_grpc.RunServiceStub(channel)


def executor_pid(stack: Stack, executor_id: str) -> int:
    assert stack.manager is not None and stack.manager.pool is not None
    handle = stack.manager.pool.handle(executor_id)
    assert handle is not None, f"executor {executor_id} is not one of the pool's"
    return int(handle.ref)


async def wait_for_question(stack: Stack, run_id: str) -> str:
    async with stack.channel() as channel:
        human_loop = human_loop_pb2_grpc.HumanLoopServiceStub(channel)
        async with asyncio.timeout(60):
            while True:
                pending = await human_loop.ListPendingRequests(
                    human_loop_pb2.ListPendingRequestsRequest(run_id=run_id)
                )
                if pending.requests:
                    return pending.requests[0].question_id
                await asyncio.sleep(0.1)


async def question_status(stack: Stack, question_id: str) -> int:
    async with stack.channel() as channel:
        human_loop = human_loop_pb2_grpc.HumanLoopServiceStub(channel)
        got = await human_loop.GetRequest(human_loop_pb2.GetRequestRequest(question_id=question_id))
        return got.request.status


async def open_alerts(stack: Stack) -> set[tuple[str, str]]:
    async with stack.channel() as channel:
        metrics = await reconcile_pb2_grpc.ReconcileServiceStub(channel).GetMetrics(
            reconcile_pb2.GetMetricsRequest()
        )
    return {(a.run_id, a.kind) for a in metrics.open_alerts}


async def test_a_killed_executor_fails_its_run_and_a_follow_up_continues_the_thread(
    stack: Stack, runs: runs_pb2_grpc.RunServiceStub, prove: Callable[..., None]
) -> None:
    created = await runs.CreateRun(
        runs_pb2.CreateRunRequest(prompt="[scenario:remember] Remember the word kumquat.")
    )
    run_id = created.run.id
    first = await wait_for_status(runs, run_id, FINAL, 60)
    assert first.status == common_pb2.RUN_STATUS_SUCCEEDED, first.error
    await runs.SendMessage(runs_pb2.SendMessageRequest(run_id=run_id, text="Now ask me something."))
    question_id = await wait_for_question(stack, run_id)
    live = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=run_id))).run
    assert live.status == common_pb2.RUN_STATUS_WAITING_HUMAN

    pid = executor_pid(stack, live.executor_id)
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    failed = await wait_for_status(runs, run_id, FINAL, KILL_BOUND_S)
    took = time.monotonic() - killed_at
    assert failed.status == common_pb2.RUN_STATUS_FAILED
    assert failed.error_reason == "EXECUTOR_LOST", failed.error
    assert took < KILL_BOUND_S
    assert await question_status(stack, question_id) == human_loop_pb2.HUMAN_LOOP_STATUS_CANCELED
    assert any(run == run_id for run, _ in await open_alerts(stack)), "an alert says what happened"

    # The conversation survives: a follow-up resumes the thread from the
    # state saved after turn 1 (turn 2, in flight, is what was lost).
    await runs.SendMessage(runs_pb2.SendMessageRequest(run_id=run_id, text="Which word was it?"))
    resumed = await wait_for_status(runs, run_id, FINAL, 60)
    assert resumed.status == common_pb2.RUN_STATUS_SUCCEEDED, resumed.error
    assert stack.model is not None
    last = stack.model.requests[-1]
    assert "Which word was it?" in last.body and "kumquat" in last.body, "turn 1 is in the conversation"
    events = await all_events(runs, run_id)
    assert_gap_free(events)
    messages = [e.message_completed.text for e in events if e.type == "message.completed"]
    assert messages[-1] == "The word was kumquat."
    statuses = [e.status_changed.status for e in events if e.type == "run.status_changed"]
    assert common_pb2.RUN_STATUS_LOST in statuses or common_pb2.RUN_STATUS_FAILED in statuses

    # New runs succeed afterwards.
    after = await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:chat] hello again"))
    done = await wait_for_status(runs, after.run.id, FINAL, 60)
    assert done.status == common_pb2.RUN_STATUS_SUCCEEDED, done.error
    prove(
        fault="executor killed (SIGKILL) while its run waits for a person",
        injected="SIGKILL to the executor process",
        outcome="run failed EXECUTOR_LOST, question canceled, alert; a follow-up resumed the thread",
        bound_s=KILL_BOUND_S,
        measured_s=round(took, 2),
    )


async def test_a_hung_executor_loses_its_run_which_fails_after_the_grace_period(
    stack: Stack, runs: runs_pb2_grpc.RunServiceStub, prove: Callable[..., None]
) -> None:
    run_id = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:wait] wait for me"))).run.id
    question_id = await wait_for_question(stack, run_id)
    live = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=run_id))).run
    process = psutil.Process(executor_pid(stack, live.executor_id))
    stopped_at = time.monotonic()
    process.suspend()
    try:
        lost = await wait_for_status(runs, run_id, {common_pb2.RUN_STATUS_LOST}, HANG_BOUND_S)
        assert lost.error_reason, "lost says why"
        failed = await wait_for_status(runs, run_id, FINAL, HANG_BOUND_S)
        took = time.monotonic() - stopped_at
    finally:
        process.resume()
    assert failed.status == common_pb2.RUN_STATUS_FAILED
    assert failed.error_reason == "EXECUTOR_LOST", failed.error
    assert took >= stack.settings.lost_grace, "not before the grace period"
    assert await question_status(stack, question_id) == human_loop_pb2.HUMAN_LOOP_STATUS_CANCELED
    assert (run_id, "lost_expired") in await open_alerts(stack)
    assert_gap_free(await all_events(runs, run_id))
    # Resumed, the executor serves again (its heartbeats make it ready).
    after = await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:chat] after the hang"))
    done = await wait_for_status(runs, after.run.id, FINAL, 60)
    assert done.status == common_pb2.RUN_STATUS_SUCCEEDED, done.error
    prove(
        fault="executor hung (SIGSTOP) past the grace period",
        injected="SIGSTOP to the executor process (heartbeat timeout 3 s, grace 3 s)",
        outcome="run lost, then failed EXECUTOR_LOST; question canceled; the executor served again",
        bound_s=HANG_BOUND_S,
        measured_s=round(took, 2),
    )


async def test_an_executor_that_wakes_within_the_grace_period_heals_its_run(
    stack: Stack, runs: runs_pb2_grpc.RunServiceStub, prove: Callable[..., None]
) -> None:
    run_id = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:wait] heal me"))).run.id
    question_id = await wait_for_question(stack, run_id)
    live = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=run_id))).run
    process = psutil.Process(executor_pid(stack, live.executor_id))
    process.suspend()
    try:
        await wait_for_status(runs, run_id, {common_pb2.RUN_STATUS_LOST}, HANG_BOUND_S)
    finally:
        process.resume()
    resumed_at = time.monotonic()
    healed = await wait_for_status(runs, run_id, {common_pb2.RUN_STATUS_WAITING_HUMAN}, 10)
    healed_in = time.monotonic() - resumed_at
    assert healed.status == common_pb2.RUN_STATUS_WAITING_HUMAN, "back, and still waiting for the person"
    async with stack.channel() as channel:
        await human_loop_pb2_grpc.HumanLoopServiceStub(channel).Reply(
            human_loop_pb2.ReplyRequest(
                run_id=run_id,
                question_id=question_id,
                questions=human_loop_pb2.QuestionAnswers(
                    answers={"go": human_loop_pb2.QuestionAnswer(answers=["Yes"])}
                ),
            )
        )
    done = await wait_for_status(runs, run_id, FINAL, 60)
    assert done.status == common_pb2.RUN_STATUS_SUCCEEDED, done.error
    assert_gap_free(await all_events(runs, run_id))
    prove(
        fault="executor hung (SIGSTOP), back within the grace period",
        injected="SIGSTOP until the run is lost, then SIGCONT",
        outcome="run healed to waiting_human; the answer reached Codex; succeeded",
        bound_s=10.0,
        measured_s=round(healed_in, 2),
    )
