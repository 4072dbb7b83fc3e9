"""The model stalls or cuts its stream mid-answer: the turn fails on its own, in bounded time.

The scripted model breaks its Server-Sent Events stream at the wire: it
goes silent with the connection open (mid-stream, or before it has sent a
response head at all), or it closes the TCP connection half way through a
chunk. With ``CCPLANE_MODEL_STALL_TIMEOUT`` at 3 s (the executors inherit
this process's environment), every such run must end ``failed`` with an
error that says what happened, within the stall timeout plus a margin,
with nobody calling anything; its event log must be gap-free; and a normal
run on the same platform must succeed afterwards.

Who enforces what (see ``executor/providers/codex/config.py`` and
``executor/model_proxy.py``): Codex times out a silent stream
(``stream_idle_timeout_ms``), the session's model proxy a response that
never starts (504), and a cut stream fails the turn at once
(``stream_max_retries = 0``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio

from ccplane.v1 import common_pb2, events_pb2, runs_pb2, runs_pb2_grpc
from common.cli.stack import Stack
from executor.providers.codex.config import STALL_TIMEOUT_ENV
from tests.platform import own_database, scenario_library
from tests.reliability.conftest import all_events, assert_gap_free, fault_platform, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STALL_TIMEOUT_S = 3.0
# The stall timeout, then Codex's error, the session's end and the run's
# final status travelling executor -> control plane; seconds in practice.
STALL_BOUND_S = STALL_TIMEOUT_S + 15.0
# A cut fails the turn as soon as Codex reads the broken body.
CUT_BOUND_S = 15.0
FINAL: set[int] = {
    common_pb2.RUN_STATUS_SUCCEEDED,
    common_pb2.RUN_STATUS_FAILED,
    common_pb2.RUN_STATUS_CANCELED,
}

STREAMED = "A streamed answer that the model never gets to finish, however long it waits."
# Stalls outlast any bound here: only the stall timeout can end them.
LIBRARY: dict[str, Any] = {
    "stall": {
        "steps": [{"output": [{"message": STREAMED, "stream": True}], "stall": 600, "after_events": 3}]
    },
    "silent": {"steps": [{"output": [{"message": STREAMED}], "stall": 600, "before_headers": True}]},
    "cut": {"steps": [{"output": [{"message": STREAMED, "stream": True}], "cut": True, "after_events": 4}]},
    # Real work first (a command), then the model stalls on the next request.
    "work-then-stall": {
        "steps": [
            {"output": [{"exec": "echo did-some-work"}]},
            {
                "when_contains": "function_call_output",
                "output": [{"message": STREAMED, "stream": True}],
                "stall": 600,
                "after_events": 2,
            },
        ]
    },
}


@pytest.fixture(scope="module")
def stall_timeout_env() -> Iterator[None]:
    """The executors the stack starts inherit this process's environment;
    the stack's own executor settings carry only the scripted model's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(STALL_TIMEOUT_ENV, str(STALL_TIMEOUT_S))
        yield


@pytest.fixture(scope="module")
def faults_db_url(postgres_server_url: str) -> Iterator[str]:
    with own_database(postgres_server_url, "ccplane_model_faults") as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    stall_timeout_env: None, faults_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with fault_platform(
        faults_db_url, tmp_path_factory.mktemp("ccplane-model-faults"), scenario_library("faults", LIBRARY)
    ) as stack:
        yield stack


@pytest_asyncio.fixture(loop_scope="session")
async def runs(stack: Stack) -> AsyncIterator[runs_pb2_grpc.RunServiceStub]:
    async with stack.channel() as channel:
        yield runs_pb2_grpc.RunServiceStub(channel)


async def run_to_the_end(
    runs: runs_pb2_grpc.RunServiceStub, prompt: str, bound_s: float
) -> tuple[runs_pb2.Run, list[events_pb2.RunEvent], float]:
    """Create a run and wait, calling nothing else, for its final status:
    the run, its whole log (read from seq 0) and the seconds it took."""
    started = time.monotonic()
    created = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt=prompt))).run
    run = await wait_for_status(runs, created.id, FINAL, bound_s)
    took = time.monotonic() - started
    return run, await all_events(runs, created.id), took


def explain(events: list[events_pb2.RunEvent]) -> str:
    """What a run went through, for assertion messages."""
    lines = []
    for e in events:
        detail = ""
        if e.type == "run.status_changed":
            detail = f"{common_pb2.RunStatus.Name(e.status_changed.status)} {e.status_changed.error}"
        elif e.type == "error":
            detail = f"{e.error.reason}: {e.error.message}"
        lines.append(f"{e.seq} {e.type} {detail}")
    return "\n".join(lines)


def seconds_from(events: list[events_pb2.RunEvent], type_: str) -> float:
    """Seconds from the last ``type_`` event to the run's final event (their
    own timestamps): how long the fault took to end the run, start-up aside."""
    (start,) = [e for e in events if e.type == type_][-1:]
    return (events[-1].time.ToNanoseconds() - start.time.ToNanoseconds()) / 1e9


def assert_failed_with(
    run: runs_pb2.Run, events: list[events_pb2.RunEvent], *, says: str, after_work: bool = False
) -> None:
    """Failed, saying ``says``, the turn failed too, and the log gap-free and final."""
    assert run.status == common_pb2.RUN_STATUS_FAILED, explain(events)
    assert says in run.error, f"{run.error!r} ({run.error_reason})"
    assert_gap_free(events)
    assert run.last_seq == events[-1].seq
    final = events[-1]
    assert final.type == "run.status_changed", explain(events)
    assert final.status_changed.status == common_pb2.RUN_STATUS_FAILED
    assert says in final.status_changed.error
    errors = [e for e in events if e.type == "error"]
    assert any(says in e.error.message for e in errors), explain(events)
    (turn,) = [e for e in events if e.type == "turn.completed"]
    assert turn.turn_completed.status == events_pb2.TURN_STATUS_FAILED
    assert not [e for e in events if e.type == "message.completed"], "the broken answer is not a message"
    commands = [e.command_completed.output for e in events if e.type == "command.completed"]
    assert commands == (["did-some-work\n"] if after_work else []), explain(events)


def failed_as(run: runs_pb2.Run) -> str:
    """The run's final status and reason, for what a test proved."""
    return f"failed {run.error_reason}" if run.error_reason else "failed"


async def assert_a_new_run_succeeds(runs: runs_pb2_grpc.RunServiceStub) -> None:
    run, events, _ = await run_to_the_end(runs, "[scenario:quick] write hello.txt", 60.0)
    assert run.status == common_pb2.RUN_STATUS_SUCCEEDED, explain(events)
    assert_gap_free(events)


async def test_a_stalled_stream_fails_the_run_after_the_stall_timeout(
    stack: Stack, runs: runs_pb2_grpc.RunServiceStub, prove: Callable[..., None]
) -> None:
    run, events, took = await run_to_the_end(runs, "[scenario:stall] answer at length", STALL_BOUND_S)
    assert_failed_with(run, events, says="idle timeout waiting for SSE")
    failed_in = seconds_from(events, "turn.started")
    assert STALL_TIMEOUT_S <= failed_in <= took < STALL_BOUND_S
    # Part of the answer had arrived before the model went silent.
    deltas = [e for e in events if e.type == "message.delta"]
    assert deltas, explain(events)
    # Nothing holds on to the stalled connection (the proxy gives up on it too).
    assert stack.model is not None
    (request,) = [r for r in stack.model.requests if "[scenario:stall]" in r.body]
    await stack.model.wait_for_hang_up(request, timeout_s=STALL_BOUND_S)
    await assert_a_new_run_succeeds(runs)
    prove(
        fault="model stream stalls mid-answer, connection left open",
        injected=f"scripted model goes silent after 3 SSE events; stall timeout {STALL_TIMEOUT_S:g} s",
        outcome=f"run {failed_as(run)} ('idle timeout waiting for SSE') "
        f"{failed_in:.1f} s after the turn started; the partial answer kept "
        f"({len(deltas)} message.delta), no message; the stalled connection was hung up; "
        "a new run succeeded",
        bound_s=STALL_BOUND_S,
        measured_s=round(failed_in, 2),
    )


async def test_a_model_that_never_answers_fails_the_run_after_the_stall_timeout(
    stack: Stack, runs: runs_pb2_grpc.RunServiceStub, prove: Callable[..., None]
) -> None:
    run, events, took = await run_to_the_end(runs, "[scenario:silent] answer", STALL_BOUND_S)
    assert_failed_with(run, events, says=f"sent no answer within {STALL_TIMEOUT_S:g}s")
    assert STALL_TIMEOUT_ENV in run.error
    failed_in = seconds_from(events, "turn.started")
    assert STALL_TIMEOUT_S <= failed_in <= took < STALL_BOUND_S
    assert stack.model is not None
    (request,) = [r for r in stack.model.requests if "[scenario:silent]" in r.body]
    await stack.model.wait_for_hang_up(request, timeout_s=5.0)
    await assert_a_new_run_succeeds(runs)
    prove(
        fault="model never sends a response head",
        injected=f"scripted model holds the request open, no headers; stall timeout {STALL_TIMEOUT_S:g} s",
        outcome=f"run {failed_as(run)} (model proxy 504: 'sent no answer "
        f"within {STALL_TIMEOUT_S:g}s', naming {STALL_TIMEOUT_ENV}) {failed_in:.1f} s after the turn "
        "started; the request was hung up; a new run succeeded",
        bound_s=STALL_BOUND_S,
        measured_s=round(failed_in, 2),
    )


async def test_a_cut_stream_fails_the_run_at_once(
    stack: Stack, runs: runs_pb2_grpc.RunServiceStub, prove: Callable[..., None]
) -> None:
    run, events, took = await run_to_the_end(runs, "[scenario:cut] answer at length", CUT_BOUND_S)
    assert_failed_with(run, events, says="stream disconnected before completion")
    assert took < CUT_BOUND_S
    failed_in = seconds_from(events, "turn.started")
    assert failed_in < STALL_TIMEOUT_S, "a cut is seen at once, not after a timeout"
    deltas = [e for e in events if e.type == "message.delta"]
    assert deltas, explain(events)
    await assert_a_new_run_succeeds(runs)
    prove(
        fault="model stream cut mid-chunk",
        injected="scripted model closes the TCP connection half way through a chunk after 4 SSE events",
        outcome=f"run {failed_as(run)} ('stream disconnected before "
        f"completion') {failed_in:.1f} s after the turn started, under the {STALL_TIMEOUT_S:g} s "
        f"stall timeout; the partial answer kept ({len(deltas)} message.delta), no message; "
        "a new run succeeded",
        bound_s=CUT_BOUND_S,
        measured_s=round(failed_in, 2),
    )


async def test_a_stall_after_real_work_fails_the_run_and_keeps_the_work(
    stack: Stack, runs: runs_pb2_grpc.RunServiceStub, prove: Callable[..., None]
) -> None:
    run, events, took = await run_to_the_end(runs, "[scenario:work-then-stall] do it", STALL_BOUND_S)
    assert_failed_with(run, events, says="idle timeout waiting for SSE", after_work=True)
    failed_in = seconds_from(events, "command.completed")
    assert STALL_TIMEOUT_S <= failed_in <= took < STALL_BOUND_S
    await assert_a_new_run_succeeds(runs)
    (kept,) = [e.command_completed.output for e in events if e.type == "command.completed"]
    prove(
        fault="model stalls after the turn ran a command",
        injected="scripted model goes silent on the request after the command; "
        f"stall timeout {STALL_TIMEOUT_S:g} s",
        outcome=f"run {failed_as(run)} ('idle timeout waiting for SSE') "
        f"{failed_in:.1f} s after the command completed; the command and its output "
        f"({kept.strip()!r}) kept in the log; a new run succeeded",
        bound_s=STALL_BOUND_S,
        measured_s=round(failed_in, 2),
    )
