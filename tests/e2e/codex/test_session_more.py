"""More CodexSession behaviour on the real binary: settings, file changes,
failures of the model, and the built-in demo scenario."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import cast

import pytest

from ccplane.v1 import common_pb2, events_pb2, human_loop_pb2
from common.scripted_model import LABEL
from executor.providers import Outcome, SessionSettings
from executor.providers.codex import SessionLimits
from executor.providers.errors import QuestionCanceledError
from tests.e2e.codex.conftest import TEST_LIMITS, OpenSession

pytestmark = pytest.mark.e2e

PATCH = "*** Begin Patch\n*** Add File: notes.md\n+hello from a patch\n*** End Patch\n"


def accept() -> human_loop_pb2.HumanLoopAnswer:
    return human_loop_pb2.HumanLoopAnswer(
        approval=human_loop_pb2.ApprovalAnswer(decision=human_loop_pb2.APPROVAL_DECISION_ACCEPT)
    )


async def test_settings_reach_codex(open_session: OpenSession, workspace: Path) -> None:
    settings = SessionSettings(
        approval_mode="never",
        sandbox_mode="read-only",
        reasoning_effort="high",
        base_instructions="BASE-INSTRUCTIONS-31",
        developer_instructions="DEVELOPER-INSTRUCTIONS-32",
        env={"CCPLANE_E2E_VALUE": "value-33"},
    )
    scenario = {
        "steps": [
            {"output": [{"exec": "echo $CCPLANE_E2E_VALUE; touch blocked.txt", "call_id": "call_env"}]},
            {"when_contains": "value-33", "output": [{"message": "ok"}]},
        ]
    }
    async with open_session(scenario, settings=settings) as h:
        await h.wait_turn_completed()
        first, second = h.server.requests[0], h.server.requests[1]
        assert first.json["reasoning"]["effort"] == "high"
        assert "BASE-INSTRUCTIONS-31" in first.body and "DEVELOPER-INSTRUCTIONS-32" in first.body
        assert "Read-only file system" in second.body
        assert not (workspace / "blocked.txt").exists()


async def test_file_change_approval(open_session: OpenSession, workspace: Path) -> None:
    scenario = {
        "steps": [
            {"output": [{"custom_tool": "apply_patch", "input": PATCH, "call_id": "call_patch"}]},
            {"when_contains": "call_patch", "output": [{"message": "Patched."}]},
        ]
    }
    async with open_session(scenario, settings=SessionSettings(approval_mode="untrusted")) as h:
        asked = (await h.wait_for("human_loop.requested")).human_loop_requested
        assert asked.kind == human_loop_pb2.HUMAN_LOOP_KIND_FILE_CHANGE_APPROVAL
        (proposed,) = asked.details.file_change_approval.changes
        assert proposed.path == str(workspace / "notes.md")
        assert proposed.kind == common_pb2.FILE_CHANGE_KIND_ADD
        assert not (workspace / "notes.md").exists()

        await h.session.reply(asked.question_id, accept())
        await h.wait_turn_completed()
        assert (workspace / "notes.md").read_text() == "hello from a patch\n"
        done = h.of_type("file_change.completed")[-1].file_change_completed
        assert done.status == events_pb2.PATCH_STATUS_COMPLETED
        assert done.changes[0].diff == "hello from a patch\n"


async def test_interrupt_withdraws_a_pending_approval(open_session: OpenSession, workspace: Path) -> None:
    scenario = {"steps": [{"output": [{"exec": "touch never.txt"}]}]}
    async with open_session(scenario, settings=SessionSettings(approval_mode="untrusted")) as h:
        asked = (await h.wait_for("human_loop.requested")).human_loop_requested
        await h.session.interrupt()
        done = await h.wait_turn_completed()
        assert done.turn_completed.status == events_pb2.TURN_STATUS_INTERRUPTED
        canceled = h.of_type("human_loop.canceled")[0].human_loop_canceled
        assert canceled.question_id == asked.question_id
        assert h.types().index("human_loop.canceled") < h.types().index("turn.completed")
        assert h.session.pending_question_ids == []
        with pytest.raises(QuestionCanceledError):
            await h.session.reply(asked.question_id, accept())
        assert not (workspace / "never.txt").exists()


async def test_stateless_mode_uses_a_thread_per_turn(open_session: OpenSession) -> None:
    scenario = {
        "steps": [
            {"output": [{"message": "FIRST-ANSWER-51"}]},
            {"output": [{"message": "second"}]},
        ]
    }
    settings = SessionSettings(approval_mode="never", thread_mode="stateless")
    async with open_session(scenario, settings=settings) as h:
        await h.wait_turn_completed()
        first_thread = h.session.thread_id
        mark = len(h.events)
        await h.session.inject("again")
        await h.wait_turn_completed(after=mark)
        assert h.session.thread_id != first_thread
        threads = [e.thread_started.thread_id for e in h.of_type("thread.started")]
        assert threads == [first_thread, h.session.thread_id]
        assert not h.server.requests[-1].contains("FIRST-ANSWER-51")


async def test_model_error_fails_the_turn_not_the_session(open_session: OpenSession) -> None:
    scenario = {"steps": [{"http_status": 500}, {"output": [{"message": "recovered"}]}]}
    async with open_session(scenario) as h:
        failed = await h.wait_turn_completed()
        assert failed.turn_completed.status == events_pb2.TURN_STATUS_FAILED
        assert h.of_type("error")[-1].error.message
        assert not h.session.ended
        mark = len(h.events)
        await h.session.inject("try again")
        again = await h.wait_turn_completed(after=mark)
        assert again.turn_completed.status == events_pb2.TURN_STATUS_COMPLETED
    assert h.session.outcome is not None and h.session.outcome.outcome == Outcome.COMPLETED


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


async def test_unreachable_model_fails_the_turn(open_session: OpenSession) -> None:
    async with open_session({"steps": []}, base_url=closed_port_url()) as h:
        done = await h.wait_turn_completed()
        assert done.turn_completed.status == events_pb2.TURN_STATUS_FAILED
        assert h.of_type("error")[-1].error.reason == "HTTP_CONNECTION_FAILED"


async def test_an_unreachable_model_fails_the_turn_at_once(open_session: OpenSession) -> None:
    # Even with Codex's endless reconnects turned back on: Codex reaches the
    # session's model proxy, which answers 502 for an unreachable model, and
    # Codex fails the turn instead of retrying for ever.
    settings = SessionSettings(
        approval_mode="never", config_overrides={"features.unbounded_connection_retries": True}
    )
    limits = SessionLimits(
        request_timeout=TEST_LIMITS.request_timeout, max_reconnects=5, reconnect_deadline=1.0, stop_grace=0.5
    )
    async with open_session({"steps": []}, settings=settings, limits=limits, base_url=closed_port_url()) as h:
        completed = await h.wait_turn_completed()
        assert completed.turn_completed.status == events_pb2.TURN_STATUS_FAILED
        (error,) = [e.error for e in h.of_type("error")]
        assert "502" in error.message and "cannot be reached" in error.message


async def test_builtin_demo_scenario(open_session: OpenSession, workspace: Path) -> None:
    async with open_session("demo", prompt="Show me what you can do.") as h:
        await h.wait_turn_completed()
        assert "Hello from the ccplane scripted model" in (workspace / "ccplane-demo.txt").read_text()
        assert h.of_type("command.completed")[0].command_completed.exit_code == 0
        message = h.of_type("message.completed")[-1].message_completed.text
        assert message.startswith(LABEL) and "not from a real LLM" in message
        assert h.of_type("usage.updated")[-1].usage_updated.model == "ccplane-scripted"
        warnings = [cast(events_pb2.RunWarning, e.warning).message for e in h.of_type("warning")]
        assert not any("fallback" in w for w in warnings), warnings
