"""CodexSession on the real codex binary, offline, against the scripted model."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path

import psutil
import pytest

from ccplane.v1 import events_pb2, human_loop_pb2
from executor.providers import Delivery, Outcome, SessionSettings
from executor.providers.errors import (
    InvalidAnswerError,
    QuestionAlreadyAnsweredError,
    QuestionNotFoundError,
)
from tests.e2e.codex.conftest import (
    OpenSession,
    own_descendants,
    processes_running,
    started_processes,
    still_alive,
)

pytestmark = pytest.mark.e2e

UNTRUSTED = SessionSettings(approval_mode="untrusted")


def approval(decision: human_loop_pb2.ApprovalDecision) -> human_loop_pb2.HumanLoopAnswer:
    return human_loop_pb2.HumanLoopAnswer(approval=human_loop_pb2.ApprovalAnswer(decision=decision))


async def test_shell_command_creates_a_file(open_session: OpenSession, workspace: Path) -> None:
    scenario = {
        "steps": [
            {
                "output": [
                    {"reasoning": "Create the file."},
                    {"exec": "echo created-by-agent > made.txt && cat made.txt"},
                ],
                "usage": {"input_tokens": 100, "output_tokens": 10},
            },
            {
                "when_contains": "created-by-agent",
                "output": [{"message": "Wrote made.txt.", "stream": True}],
                "usage": {"input_tokens": 150, "output_tokens": 5},
            },
        ]
    }
    async with open_session(scenario) as h:
        done = await h.wait_turn_completed()
        assert done.turn_completed.status == events_pb2.TURN_STATUS_COMPLETED
        assert (workspace / "made.txt").read_text() == "created-by-agent\n"

        started = h.of_type("command.started")[0].command_started
        assert "made.txt" in started.command
        completed = h.of_type("command.completed")[0].command_completed
        assert completed.item_id == started.item_id
        assert completed.status == events_pb2.COMMAND_STATUS_COMPLETED
        assert completed.HasField("exit_code") and completed.exit_code == 0
        assert "created-by-agent" in completed.output
        assert h.of_type("reasoning.summary")[0].reasoning_summary.text == "Create the file."
        assert "".join(e.message_delta.delta for e in h.of_type("message.delta")) == "Wrote made.txt."
        assert h.of_type("message.completed")[-1].message_completed.text == "Wrote made.txt."
        assert h.of_type("message.user")[0].user_message.text == "do the thing"

        usage = h.of_type("usage.updated")
        assert [u.usage_updated.last.input_tokens for u in usage] == [100, 150]
        assert usage[-1].usage_updated.total.total_tokens == 265
        assert usage[-1].usage_updated.model == "ccplane-scripted"

        types = h.types()
        assert types.index("thread.started") < types.index("turn.started") < types.index("turn.completed")
        assert all(e.turn_id == done.turn_id for e in h.of_type("command.completed"))
        assert h.session.turn_active is False
        assert not h.session.ended, "a session stays idle after its turn"
    assert h.session.outcome is not None and h.session.outcome.outcome == Outcome.COMPLETED


@pytest.mark.parametrize(
    ("decision", "ran"),
    [(human_loop_pb2.APPROVAL_DECISION_ACCEPT, True), (human_loop_pb2.APPROVAL_DECISION_DECLINE, False)],
)
async def test_command_approval(
    open_session: OpenSession,
    workspace: Path,
    decision: human_loop_pb2.ApprovalDecision,
    ran: bool,
) -> None:
    scenario = {
        "steps": [
            {"output": [{"exec": "touch approved.txt", "call_id": "call_touch"}]},
            {"when_contains": "call_touch", "output": [{"message": "Finished."}]},
        ]
    }
    async with open_session(scenario, settings=UNTRUSTED) as h:
        asked = await h.wait_for("human_loop.requested")
        request = asked.human_loop_requested
        assert request.kind == human_loop_pb2.HUMAN_LOOP_KIND_COMMAND_APPROVAL
        assert "touch approved.txt" in request.details.command_approval.command
        assert request.details.command_approval.cwd == str(workspace)
        assert (
            human_loop_pb2.APPROVAL_DECISION_DECLINE in request.details.command_approval.available_decisions
        )
        assert h.session.pending_question_ids == [request.question_id]
        assert not (workspace / "approved.txt").exists()

        await h.session.reply(request.question_id, approval(decision))
        done = await h.wait_turn_completed()
        assert done.turn_completed.status == events_pb2.TURN_STATUS_COMPLETED
        assert h.session.pending_question_ids == []

        assert (workspace / "approved.txt").exists() is ran
        completed = h.of_type("command.completed")[-1].command_completed
        tool_output = _tool_output(h.server.requests[-1].json, "call_touch")
        if ran:
            assert completed.status == events_pb2.COMMAND_STATUS_COMPLETED
        else:
            assert completed.status == events_pb2.COMMAND_STATUS_DECLINED
            # The model is told that the person refused.
            assert "rejected" in tool_output.lower() or "declined" in tool_output.lower(), tool_output
        assert not h.of_type("human_loop.canceled")


async def test_steer_reaches_the_model(open_session: OpenSession) -> None:
    scenario = {
        "steps": [
            # Slow first answer: the steer arrives while it is in flight.
            {"delay": 5, "output": [{"message": "too slow"}]},
            {"when_contains": "STEER-7f3a use blue", "output": [{"message": "Using blue."}]},
        ]
    }
    async with open_session(scenario) as h:
        await h.server.wait_for_request(index=0)
        assert h.session.turn_active
        delivery = await h.session.inject("STEER-7f3a use blue")
        assert delivery == Delivery.STEER

        request = await h.server.wait_for_request(contains="STEER-7f3a use blue")
        assert request.step_index == 1
        done = await h.wait_turn_completed()
        assert done.turn_completed.status == events_pb2.TURN_STATUS_COMPLETED
        assert h.of_type("message.completed")[-1].message_completed.text == "Using blue."
        users = [e.user_message.text for e in h.of_type("message.user")]
        assert users == ["do the thing", "STEER-7f3a use blue"]
        # Every event of the steered turn belongs to the one turn.
        assert {e.turn_id for e in h.of_type("message.user")} == {done.turn_id}


async def test_follow_up_starts_a_new_turn_on_the_thread(open_session: OpenSession) -> None:
    scenario = {
        "steps": [
            {"output": [{"message": "first"}]},
            {"when_contains": "FOLLOW-UP-91", "output": [{"message": "second"}]},
        ]
    }
    async with open_session(scenario) as h:
        first = await h.wait_turn_completed()
        thread_id = h.session.thread_id
        mark = len(h.events)
        assert await h.session.inject("FOLLOW-UP-91") == Delivery.FOLLOW_UP
        second = await h.wait_turn_completed(after=mark)
        assert second.turn_id != first.turn_id
        assert h.session.thread_id == thread_id
        # The follow-up request carries the earlier exchange.
        assert h.server.requests[-1].contains("first")


def codex_descendants() -> list[int]:
    """Pids of the test's descendants that belong to a Codex session (codex, its sandbox, the command)."""
    found = []
    for proc in own_descendants():
        with contextlib.suppress(psutil.Error):
            line = " ".join(proc.cmdline())
            if "codex" in line or "sleep 37.25" in line:
                found.append(proc.pid)
    return found


async def test_interrupt_long_command_leaves_no_process(open_session: OpenSession) -> None:
    scenario = {"steps": [{"output": [{"exec": "sleep 37.25"}]}]}
    before = set(codex_descendants())
    async with open_session(scenario) as h:
        await h.wait_for("command.started")
        command = await started_processes("sleep 37.25")
        await h.session.interrupt()
        done = await h.wait_turn_completed()
        assert done.turn_completed.status == events_pb2.TURN_STATUS_INTERRUPTED
        assert not h.session.turn_active
        # The command stopped with the turn, not only when the session closes.
        assert not still_alive(command) and not processes_running("sleep 37.25")
        assert not h.session.ended
    assert h.session.outcome is not None and h.session.outcome.outcome == Outcome.CANCELED
    assert not still_alive(command) and not processes_running("sleep 37.25")
    # Nothing of the session is left (processes other fixtures may start meanwhile are not its).
    assert set(codex_descendants()) <= before


async def test_resume_in_a_new_process(open_session: OpenSession, tmp_path: Path) -> None:
    state_dir = tmp_path / "thread-state"
    first = {"steps": [{"output": [{"message": "The secret word is PAPAYA-42."}]}]}
    async with open_session(first, prompt="remember a word", thread_state_dir=state_dir) as h1:
        await h1.wait_turn_completed()
        thread_id = h1.session.thread_id
        first_home = h1.session.codex_home
    assert thread_id and list(state_dir.rglob(f"rollout-*-{thread_id}.jsonl"))
    assert first_home is not None and not first_home.exists(), "the temporary CODEX_HOME is removed"

    second = {"steps": [{"when_contains": "PAPAYA-42", "output": [{"message": "It was PAPAYA-42."}]}]}
    async with open_session(
        second, prompt="what was the word?", thread_state_dir=state_dir, resume_thread_id=thread_id
    ) as h2:
        started = await h2.wait_for("thread.started")
        assert started.thread_started.thread_id == thread_id
        assert started.thread_started.resumed
        await h2.wait_turn_completed()
        body = h2.server.requests[0].body
        assert "remember a word" in body and "PAPAYA-42" in body and "what was the word?" in body
        assert h2.of_type("message.completed")[-1].message_completed.text == "It was PAPAYA-42."


async def test_plan_updates_and_questions(open_session: OpenSession) -> None:
    plan = {
        "explanation": "Two steps.",
        "plan": [
            {"step": "Ask for a colour", "status": "in_progress"},
            {"step": "Paint", "status": "pending"},
        ],
    }
    question = {
        "questions": [
            {
                "id": "colour",
                "header": "Colour",
                "question": "Which colour?",
                "options": [
                    {"label": "Blue", "description": "Calm"},
                    {"label": "Red", "description": "Bold"},
                ],
            }
        ]
    }
    scenario = {
        "steps": [
            {"output": [{"tool": "update_plan", "arguments": plan}]},
            {"output": [{"tool": "request_user_input", "arguments": question, "call_id": "call_ask"}]},
            {"when_contains": "Blue", "output": [{"message": "Blue it is."}]},
        ]
    }
    async with open_session(scenario) as h:
        todos = (await h.wait_for("todos.updated")).todos_updated
        assert [(t.text, t.status, t.order) for t in todos.items] == [
            ("Ask for a colour", 2, 0),
            ("Paint", 1, 1),
        ]
        assert todos.explanation == "Two steps."

        asked = (await h.wait_for("human_loop.requested")).human_loop_requested
        assert asked.kind == human_loop_pb2.HUMAN_LOOP_KIND_USER_INPUT
        q = asked.details.user_input.questions[0]
        assert (q.id, q.question, [o.label for o in q.options]) == (
            "colour",
            "Which colour?",
            ["Blue", "Red"],
        )

        with pytest.raises(InvalidAnswerError) as bad:
            await h.session.reply(asked.question_id, approval(human_loop_pb2.APPROVAL_DECISION_ACCEPT))
        assert bad.value.field == "answer.approval"
        assert h.session.pending_question_ids == [asked.question_id], "a bad answer keeps it pending"

        answer = human_loop_pb2.HumanLoopAnswer()
        answer.questions.answers["colour"].answers.append("Blue")
        await h.session.reply(asked.question_id, answer)
        await h.wait_turn_completed()
        output = json.loads(_tool_output(h.server.requests[-1].json, "call_ask"))
        assert output == {"answers": {"colour": {"answers": ["Blue"]}}}


async def test_codex_crash_fails_the_session(open_session: OpenSession) -> None:
    scenario = {"steps": [{"output": [{"exec": "sleep 41.5"}]}]}
    async with open_session(scenario) as h:
        await h.wait_for("command.started")
        pid = h.session.process_pid
        assert pid is not None
        # Handles taken before the crash: the orphans leave this process's tree.
        command = await started_processes("sleep 41.5")
        os.kill(pid, signal.SIGKILL)
        outcome = await h.wait_ended()
        assert outcome.outcome == Outcome.FAILED
        assert outcome.reason == "CODEX_EXITED"
        error = h.of_type("error")[-1].error
        assert error.reason == "CODEX_EXITED" and "exited unexpectedly" in error.message
        assert h.of_type("turn.completed")[-1].turn_completed.status == events_pb2.TURN_STATUS_FAILED
        assert h.types()[-2:] == ["error", "turn.completed"]
    # The command Codex left behind was found and killed too.
    assert not still_alive(command) and not processes_running("sleep 41.5")


async def test_reply_is_delivered_once(open_session: OpenSession, workspace: Path) -> None:
    scenario = {
        "steps": [
            {"output": [{"exec": "echo once >> count.txt", "call_id": "call_once"}]},
            {"when_contains": "call_once", "output": [{"message": "Done."}]},
        ]
    }
    async with open_session(scenario, settings=UNTRUSTED) as h:
        with pytest.raises(QuestionNotFoundError):
            await h.session.reply(
                "hlq_01JUNKNOWN0000000000000000", approval(human_loop_pb2.APPROVAL_DECISION_ACCEPT)
            )

        asked = (await h.wait_for("human_loop.requested")).human_loop_requested
        accept = approval(human_loop_pb2.APPROVAL_DECISION_ACCEPT)
        results = await asyncio.gather(
            h.session.reply(asked.question_id, accept),
            h.session.reply(asked.question_id, accept),
            return_exceptions=True,
        )
        assert results.count(None) == 1
        assert any(isinstance(r, QuestionAlreadyAnsweredError) for r in results)
        await h.wait_turn_completed()
        with pytest.raises(QuestionAlreadyAnsweredError):
            await h.session.reply(asked.question_id, accept)
        assert (workspace / "count.txt").read_text() == "once\n"
        assert len(h.of_type("command.completed")) == 1


def _tool_output(body: dict[str, object], call_id: str) -> str:
    for item in body["input"]:  # type: ignore[attr-defined]
        if item.get("call_id") == call_id and item.get("type", "").endswith("_output"):
            output = item["output"]
            return output if isinstance(output, str) else json.dumps(output)
    raise AssertionError(f"no output for {call_id} in the request")
