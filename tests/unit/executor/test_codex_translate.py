"""Codex messages ⇄ ccplane protobufs, on messages recorded from the real binary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from google.protobuf import json_format

from ccplane.v1 import common_pb2, events_pb2, human_loop_pb2
from executor.providers.codex.translate import (
    COMMAND_APPROVAL,
    FILE_CHANGE_APPROVAL,
    HUMAN_LOOP_KINDS,
    MCP_ELICITATION,
    PERMISSIONS_APPROVAL,
    USER_INPUT,
    EventTranslator,
    codex_answer,
    error_reason,
)
from executor.providers.errors import InvalidAnswerError

FIXTURE = Path(__file__).parents[2] / "fixtures" / "codex" / "turn_messages.jsonl"


def recorded() -> list[dict[str, Any]]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]


def translate_all() -> tuple[EventTranslator, list[events_pb2.RunEvent]]:
    translator = EventTranslator("run_1")
    events = []
    for message in recorded():
        if "id" in message:
            if message["method"] in HUMAN_LOOP_KINDS:
                events.append(
                    translator.human_loop_requested(
                        f"hlq_{message['id']}", message["method"], message["params"]
                    )
                )
        else:
            events.extend(translator.notification(message["method"], message["params"]))
    return translator, events


def warning(event: events_pb2.RunEvent) -> events_pb2.RunWarning:
    # The generated stub types RunEvent.warning as the builtin Warning.
    return cast(events_pb2.RunWarning, event.warning)


def of_type(events: list[events_pb2.RunEvent], type_: str) -> list[events_pb2.RunEvent]:
    return [e for e in events if e.type == type_]


def test_every_event_has_a_matching_payload_and_run_id() -> None:
    _, events = translate_all()
    assert events
    for event in events:
        assert event.run_id == "run_1"
        assert event.seq == 0
        assert event.time.seconds > 0
        payload = event.WhichOneof("payload")
        assert payload is not None
        expected = {
            "provider.raw": "provider_raw",
            "message.user": "user_message",
            "file_change.completed": "file_change_completed",
            "todos.updated": "todos_updated",
            "usage.updated": "usage_updated",
            "human_loop.requested": "human_loop_requested",
        }.get(event.type, event.type.replace(".", "_"))
        assert payload == expected, event.type


def test_turn_of_the_recorded_stream() -> None:
    _, events = translate_all()
    types = [e.type for e in events if e.type != "provider.raw"]
    assert types == [
        "warning",
        "thread.started",
        "turn.started",
        "message.user",
        "reasoning.summary",
        "todos.updated",
        "usage.updated",
        "command.started",
        "human_loop.requested",
        "command.completed",
        "usage.updated",
        "human_loop.requested",
        "file_change.completed",
        "turn.diff",
        "usage.updated",
        "turn.diff",
        "human_loop.requested",
        "usage.updated",
        "turn.diff",
        "message.delta",
        "message.completed",
        "usage.updated",
        "turn.diff",
        "turn.completed",
    ]
    turn_id = of_type(events, "turn.started")[0].turn_started.turn_id
    assert turn_id and all(e.turn_id == turn_id for e in events if e.type.startswith(("command", "todos")))


def test_command_and_file_change_payloads() -> None:
    _, events = translate_all()
    started = of_type(events, "command.started")[0].command_started
    assert started.item_id == "call_cmd" and "printf" in started.command and started.cwd
    done = of_type(events, "command.completed")[0].command_completed
    assert done.status == events_pb2.COMMAND_STATUS_COMPLETED
    assert done.HasField("exit_code") and done.exit_code == 0
    assert done.output.endswith("hello\n")

    change = of_type(events, "file_change.completed")[0].file_change_completed
    assert change.status == events_pb2.PATCH_STATUS_COMPLETED
    assert [(c.path.endswith("notes.md"), c.kind, c.diff) for c in change.changes] == [
        (True, common_pb2.FILE_CHANGE_KIND_ADD, "hello\n")
    ]


def test_plan_usage_messages_and_turn() -> None:
    translator, events = translate_all()
    todos = of_type(events, "todos.updated")[0].todos_updated
    assert [(t.text, t.status, t.order) for t in todos.items] == [
        ("Write notes", common_pb2.TODO_STATUS_IN_PROGRESS, 0),
        ("Ask", common_pb2.TODO_STATUS_PENDING, 1),
    ]
    assert todos.explanation == "Two steps."

    usage = [e.usage_updated for e in of_type(events, "usage.updated")]
    assert all(u.model == "ccplane-scripted" for u in usage)
    assert usage[-1].total.total_tokens == sum(u.last.total_tokens for u in usage)
    assert usage[0].last.input_tokens > 0

    assert of_type(events, "message.user")[0].user_message.text == "Write notes."
    assert of_type(events, "message.delta")[0].message_delta.delta == "All done."
    assert of_type(events, "message.completed")[0].message_completed.text == "All done."
    assert of_type(events, "reasoning.summary")[0].reasoning_summary.text == "Plan the work."
    done = of_type(events, "turn.completed")[0].turn_completed
    assert done.status == events_pb2.TURN_STATUS_COMPLETED and not done.error
    assert translator.model == "ccplane-scripted"


def test_human_loop_requests_carry_typed_details() -> None:
    _, events = translate_all()
    command, patch, question = (e.human_loop_requested for e in of_type(events, "human_loop.requested"))

    assert command.kind == human_loop_pb2.HUMAN_LOOP_KIND_COMMAND_APPROVAL
    assert command.item_id == "call_cmd"
    assert "printf" in command.details.command_approval.command
    assert list(command.details.command_approval.available_decisions) == [1, 2, 3, 4]

    assert patch.kind == human_loop_pb2.HUMAN_LOOP_KIND_FILE_CHANGE_APPROVAL
    # The approval request names the item only; the changes come from item/started.
    assert [c.diff for c in patch.details.file_change_approval.changes] == ["hello\n"]

    assert question.kind == human_loop_pb2.HUMAN_LOOP_KIND_USER_INPUT
    q = question.details.user_input.questions[0]
    assert (q.id, q.header, q.question, q.allow_other, q.secret) == (
        "colour",
        "Colour",
        "Which colour?",
        True,
        False,
    )
    assert [(o.label, o.description) for o in q.options] == [("Blue", "Calm"), ("Red", "Bold")]


def test_turn_diff_carries_the_turns_unified_diff() -> None:
    _, events = translate_all()
    diffs = [e for e in of_type(events, "turn.diff")]
    assert diffs, "the recorded turn changed a file"
    last = diffs[-1]
    assert last.turn_diff.turn_id == last.turn_id and last.turn_id
    assert "+++ b/" in last.turn_diff.diff and "notes.md" in last.turn_diff.diff
    assert last.turn_diff.diff.endswith("+hello\n")


def test_unknown_and_untranslated_notifications_become_provider_raw() -> None:
    _, events = translate_all()
    raw_methods = {e.provider_raw.method for e in of_type(events, "provider.raw")}
    assert "thread/status/changed" in raw_methods
    assert "turn/diff/updated" not in raw_methods  # typed: turn.diff
    translator = EventTranslator("run_1")
    (event,) = translator.notification("brand/new", {"a": [1, {"b": None}], "turnId": "t1"})
    assert event.type == "provider.raw" and event.turn_id == "t1"
    assert event.provider_raw.method == "brand/new"
    assert json_format.MessageToDict(event.provider_raw.params) == {"a": [1, {"b": None}], "turnId": "t1"}
    # Items ccplane has no event for are kept too.
    item = {"item": {"type": "webSearch", "id": "ws1", "query": "q"}, "turnId": "t1"}
    (raw_item,) = translator.notification("item/completed", item)
    assert raw_item.provider_raw.method == "item/completed"


def test_deltas_errors_and_warnings() -> None:
    t = EventTranslator("run_1")
    (out,) = t.notification(
        "item/commandExecution/outputDelta", {"threadId": "th", "turnId": "t1", "itemId": "c1", "delta": "ab"}
    )
    assert (out.type, out.command_output.item_id, out.command_output.chunk) == ("command.output", "c1", "ab")
    assert t.notification("item/reasoning/summaryTextDelta", {"delta": "x"}) == []

    (err,) = t.notification(
        "error",
        {
            "error": {"message": "Reconnecting...", "codexErrorInfo": {"responseStreamDisconnected": {}}},
            "willRetry": True,
            "threadId": "th",
            "turnId": "t1",
        },
    )
    assert (err.error.reason, err.error.will_retry, err.turn_id) == (
        "RESPONSE_STREAM_DISCONNECTED",
        True,
        "t1",
    )
    (cfg,) = t.notification("configWarning", {"summary": "bad key", "details": "line 3"})
    assert (warning(cfg).message, warning(cfg).reason) == ("bad key\nline 3", "CODEX_CONFIG_WARNING")
    (warn,) = t.notification("warning", {"message": "careful"})
    assert warn.type == "warning" and warning(warn).message == "careful"
    assert error_reason("usageLimitExceeded") == "USAGE_LIMIT_EXCEEDED"
    assert error_reason(None) == ""


def test_failed_mcp_server_is_a_warning() -> None:
    t = EventTranslator("run_1")
    starting = {"name": "files", "status": "starting", "error": None, "threadId": "th"}
    assert [e.type for e in t.notification("mcpServer/startupStatus/updated", starting)] == ["provider.raw"]
    failed = {**starting, "status": "failed", "error": "No such file or directory"}
    raw, warn = t.notification("mcpServer/startupStatus/updated", failed)
    assert raw.type == "provider.raw" and warn.type == "warning"
    assert warning(warn).reason == "MCP_SERVER_FAILED" and "'files'" in warning(warn).message


def test_failed_and_interrupted_turns() -> None:
    t = EventTranslator("run_1")
    (failed,) = t.notification(
        "turn/completed",
        {"threadId": "th", "turn": {"id": "t1", "status": "failed", "error": {"message": "boom"}}},
    )
    assert failed.turn_completed.status == events_pb2.TURN_STATUS_FAILED
    assert failed.turn_completed.error == "boom"
    (interrupted,) = t.notification("turn/completed", {"turn": {"id": "t2", "status": "interrupted"}})
    assert interrupted.turn_completed.status == events_pb2.TURN_STATUS_INTERRUPTED


# -- answers -------------------------------------------------------------------


def approval(decision: human_loop_pb2.ApprovalDecision) -> human_loop_pb2.HumanLoopAnswer:
    return human_loop_pb2.HumanLoopAnswer(approval=human_loop_pb2.ApprovalAnswer(decision=decision))


def questions(**answers: list[str]) -> human_loop_pb2.HumanLoopAnswer:
    answer = human_loop_pb2.HumanLoopAnswer()
    for key, values in answers.items():
        answer.questions.answers[key].answers.extend(values)
    return answer


@pytest.mark.parametrize("method", [COMMAND_APPROVAL, FILE_CHANGE_APPROVAL])
@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        (human_loop_pb2.APPROVAL_DECISION_ACCEPT, "accept"),
        (human_loop_pb2.APPROVAL_DECISION_ACCEPT_FOR_SESSION, "acceptForSession"),
        (human_loop_pb2.APPROVAL_DECISION_DECLINE, "decline"),
        (human_loop_pb2.APPROVAL_DECISION_CANCEL, "cancel"),
    ],
)
def test_approval_answers(method: str, decision: human_loop_pb2.ApprovalDecision, expected: str) -> None:
    assert codex_answer(method, {}, approval(decision)) == {"decision": expected}


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        (human_loop_pb2.HumanLoopAnswer(), "answer"),
        (approval(human_loop_pb2.APPROVAL_DECISION_UNSPECIFIED), "answer.approval.decision"),
        (human_loop_pb2.HumanLoopAnswer(text="yes"), "answer.approval"),
        (questions(x=["y"]), "answer.approval"),
    ],
)
def test_malformed_approval_answers_name_the_field(
    answer: human_loop_pb2.HumanLoopAnswer, field: str
) -> None:
    with pytest.raises(InvalidAnswerError) as raised:
        codex_answer(COMMAND_APPROVAL, {}, answer)
    assert raised.value.field == field
    assert raised.value.status_code == "INVALID_ARGUMENT"


def test_permissions_answers() -> None:
    requested = {"network": {"enabled": True}}
    params = {"permissions": requested}
    accept = codex_answer(PERMISSIONS_APPROVAL, params, approval(human_loop_pb2.APPROVAL_DECISION_ACCEPT))
    assert accept == {"permissions": requested, "scope": "turn"}
    session = codex_answer(
        PERMISSIONS_APPROVAL, params, approval(human_loop_pb2.APPROVAL_DECISION_ACCEPT_FOR_SESSION)
    )
    assert session["scope"] == "session"
    decline = codex_answer(PERMISSIONS_APPROVAL, params, approval(human_loop_pb2.APPROVAL_DECISION_DECLINE))
    assert decline == {"permissions": {}, "scope": "turn"}


USER_INPUT_PARAMS = {
    "questions": [{"id": "colour", "question": "Which?"}, {"id": "size", "question": "How big?"}]
}


def test_user_input_answers() -> None:
    answer = questions(colour=["Blue"], size=["L", "XL"])
    assert codex_answer(USER_INPUT, USER_INPUT_PARAMS, answer) == {
        "answers": {"colour": {"answers": ["Blue"]}, "size": {"answers": ["L", "XL"]}}
    }
    one = {"questions": [{"id": "colour"}]}
    text = human_loop_pb2.HumanLoopAnswer(text="Green")
    assert codex_answer(USER_INPUT, one, text) == {"answers": {"colour": {"answers": ["Green"]}}}
    declined = codex_answer(USER_INPUT, one, approval(human_loop_pb2.APPROVAL_DECISION_DECLINE))
    assert declined == {"answers": {}}


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        (questions(shape=["round"]), "answer.questions.answers['shape']"),
        (questions(colour=[]), "answer.questions.answers['colour'].answers"),
        (human_loop_pb2.HumanLoopAnswer(text="Blue"), "answer.text"),
        (approval(human_loop_pb2.APPROVAL_DECISION_ACCEPT), "answer.approval"),
    ],
)
def test_malformed_user_input_answers(answer: human_loop_pb2.HumanLoopAnswer, field: str) -> None:
    with pytest.raises(InvalidAnswerError) as raised:
        codex_answer(USER_INPUT, USER_INPUT_PARAMS, answer)
    assert raised.value.field == field


def test_mcp_elicitation_answers() -> None:
    form = {
        "serverName": "db",
        "mode": "form",
        "message": "Which table?",
        "requestedSchema": {"type": "object", "properties": {"table": {"type": "string"}}},
    }
    assert codex_answer(MCP_ELICITATION, form, human_loop_pb2.HumanLoopAnswer(text="users")) == {
        "action": "accept",
        "content": {"table": "users"},
    }
    assert codex_answer(MCP_ELICITATION, form, human_loop_pb2.HumanLoopAnswer(text='{"table": "t"}')) == {
        "action": "accept",
        "content": {"table": "t"},
    }
    assert codex_answer(MCP_ELICITATION, form, questions(table=["orders"])) == {
        "action": "accept",
        "content": {"table": "orders"},
    }
    declined = codex_answer(MCP_ELICITATION, form, approval(human_loop_pb2.APPROVAL_DECISION_DECLINE))
    assert declined == {"action": "decline", "content": None}
    two_fields = {**form, "requestedSchema": {"type": "object", "properties": {"a": {}, "b": {}}}}
    with pytest.raises(InvalidAnswerError) as raised:
        codex_answer(MCP_ELICITATION, two_fields, human_loop_pb2.HumanLoopAnswer(text="x"))
    assert raised.value.field == "answer.text"


def test_elicitation_request_details() -> None:
    t = EventTranslator("run_1")
    params = {
        "serverName": "db",
        "threadId": "th",
        "turnId": "t1",
        "mode": "form",
        "message": "Which table?",
        "requestedSchema": {"type": "object", "properties": {"table": {"type": "string"}}},
    }
    event = t.human_loop_requested("hlq_1", MCP_ELICITATION, params)
    details = event.human_loop_requested.details.mcp_elicitation
    assert (details.server_name, details.message) == ("db", "Which table?")
    assert json_format.MessageToDict(details.requested_schema) == params["requestedSchema"]
    perms = t.human_loop_requested(
        "hlq_2",
        PERMISSIONS_APPROVAL,
        {"itemId": "i", "cwd": "/w", "permissions": {"network": {"enabled": True}}, "reason": "fetch"},
    )
    p = perms.human_loop_requested.details.permissions_approval
    assert (p.item_id, p.reason) == ("i", "fetch")
    assert json_format.MessageToDict(p.permissions) == {"network": {"enabled": True}}
