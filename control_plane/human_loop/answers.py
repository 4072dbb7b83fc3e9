"""Answers: which fit a request, what expiry sends, what callers may see.

:func:`check_answer` refuses, as INVALID_ARGUMENT naming the field of
``ReplyRequest`` (``approval.decision``, ``questions.answers["q9"]``, …), an
answer the executor could not turn into what Codex expects, or that a
person could not have meant:

- approvals (command, file change, permissions) take ``approval`` with a
  decision; a command approval only one of its ``available_decisions``;
- user input takes ``questions`` answering every question (values among the
  options unless the question allows others), or ``text`` when there is
  exactly one question; declining is not an answer a person sends (the
  request expires, or the run is stopped);
- an MCP elicitation takes ``approval`` (accept, decline, cancel),
  ``questions`` (fields of the requested schema) or ``text`` (a JSON object,
  or the value of a schema with a single field);
- and no answer is longer than :data:`MAX_ANSWER_CHARS` in all.

:func:`expiry_answer` is the decline sent when nobody answered in time: an
``approval`` decline for every kind, which the executor turns into
``decline`` for approvals, empty answers for questions and ``decline`` for
elicitations.

Answers to questions marked ``secret`` are stored as given (they must be
delivered) but :func:`redact`-ed wherever they are shown: the API, the
event log, error messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from google.protobuf import json_format

from ccplane.v1 import human_loop_pb2
from common.errors import FieldViolation, invalid_argument, invalid_arguments
from control_plane.human_loop.records import RequestKind

REDACTED: Final = "[redacted]"
# Bounds on what a person may send, and on what an error message repeats.
MAX_ANSWER_CHARS: Final = 100_000
MAX_ANSWERS: Final = 256
DESCRIBE_CHARS: Final = 1_000

_DECISION_NAMES: Final = {
    value: name
    for name, value in human_loop_pb2.ApprovalDecision.items()
    if value != human_loop_pb2.APPROVAL_DECISION_UNSPECIFIED
}
_KIND_LABELS: Final = {
    RequestKind.COMMAND_APPROVAL: "a command approval",
    RequestKind.FILE_CHANGE_APPROVAL: "a file-change approval",
    RequestKind.PERMISSIONS_APPROVAL: "a permissions approval",
    RequestKind.USER_INPUT: "a user-input request",
    RequestKind.MCP_ELICITATION: "an MCP elicitation",
}


def answer_of(request: human_loop_pb2.ReplyRequest) -> human_loop_pb2.HumanLoopAnswer:
    """The answer a ``ReplyRequest`` carries (its ``answer`` oneof), possibly empty."""
    answer = human_loop_pb2.HumanLoopAnswer()
    which = request.WhichOneof("answer")
    if which == "approval":
        answer.approval.CopyFrom(request.approval)
    elif which == "questions":
        answer.questions.CopyFrom(request.questions)
    elif which == "text":
        answer.text = request.text
    return answer


def map_key(field: str, key: str) -> str:
    """``questions.answers["q9"]``: the field path of one map entry."""
    return f"{field}[{json.dumps(key)}]"


def describe(answer: human_loop_pb2.HumanLoopAnswer, limit: int = DESCRIBE_CHARS) -> str:
    """Compact proto JSON of an answer for messages and error metadata, cut at ``limit`` characters."""
    text = json.dumps(
        json_format.MessageToDict(answer, preserving_proto_field_name=True),
        separators=(",", ":"),
        sort_keys=True,
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- checking ------------------------------------------------------------------


def check_answer(
    kind: RequestKind, details: human_loop_pb2.HumanLoopDetails, answer: human_loop_pb2.HumanLoopAnswer
) -> None:
    """Raise INVALID_ARGUMENT naming the field when ``answer`` does not fit the request."""
    which = answer.WhichOneof("answer")
    if which is None:
        raise invalid_argument("answer", "no answer given: set approval, questions or text")
    violations = _check_size(answer, which) or _check_form(kind, details, answer, which)
    if len(violations) == 1:
        raise invalid_argument(violations[0].field, violations[0].description)
    if violations:
        raise invalid_arguments(violations)


def _check_form(
    kind: RequestKind,
    details: human_loop_pb2.HumanLoopDetails,
    answer: human_loop_pb2.HumanLoopAnswer,
    which: str,
) -> list[FieldViolation]:
    if kind.is_approval:
        return _check_approval(kind, details, answer, which)
    if kind == RequestKind.USER_INPUT:
        return _check_user_input(details.user_input, answer, which)
    return _check_elicitation(details.mcp_elicitation, answer, which)


def _check_size(answer: human_loop_pb2.HumanLoopAnswer, which: str) -> list[FieldViolation]:
    if which == "text" and len(answer.text) > MAX_ANSWER_CHARS:
        return [FieldViolation("text", f"must be at most {MAX_ANSWER_CHARS} characters")]
    if which != "questions":
        return []
    given = answer.questions.answers
    if len(given) > MAX_ANSWERS:
        return [FieldViolation("questions.answers", f"at most {MAX_ANSWERS} answers")]
    size = sum(len(key) + sum(len(v) for v in value.answers) for key, value in given.items())
    if size > MAX_ANSWER_CHARS:
        return [FieldViolation("questions.answers", f"must be at most {MAX_ANSWER_CHARS} characters in all")]
    return []


def _wrong_form(kind: RequestKind, which: str, expected: str) -> list[FieldViolation]:
    return [FieldViolation(which, f"{_KIND_LABELS[kind]} is answered with {expected}")]


def _check_decision(decision: int, offered: list[int] | None = None) -> list[FieldViolation]:
    if decision == human_loop_pb2.APPROVAL_DECISION_UNSPECIFIED:
        return [FieldViolation("approval.decision", "must be set")]
    name = _DECISION_NAMES.get(decision)
    if name is None:
        return [FieldViolation("approval.decision", f"unknown decision {decision}")]
    if offered and decision not in offered:
        names = ", ".join(_DECISION_NAMES.get(d, str(d)) for d in offered)
        return [
            FieldViolation("approval.decision", f"{name} is not offered for this request; one of {names}")
        ]
    return []


def _check_approval(
    kind: RequestKind,
    details: human_loop_pb2.HumanLoopDetails,
    answer: human_loop_pb2.HumanLoopAnswer,
    which: str,
) -> list[FieldViolation]:
    if which != "approval":
        return _wrong_form(kind, which, "approval.decision")
    offered = (
        [int(d) for d in details.command_approval.available_decisions]
        if kind == RequestKind.COMMAND_APPROVAL
        else None
    )
    return _check_decision(answer.approval.decision, offered)


def _check_user_input(
    details: human_loop_pb2.UserInputDetails, answer: human_loop_pb2.HumanLoopAnswer, which: str
) -> list[FieldViolation]:
    questions = {q.id: q for q in details.questions}
    if which == "approval":
        return _wrong_form(RequestKind.USER_INPUT, which, "questions or text")
    if which == "text":
        if not answer.text.strip():
            return [FieldViolation("text", "must not be empty")]
        if len(questions) != 1:
            return [
                FieldViolation(
                    "text", f"the request asks {len(questions)} questions; answer each in questions.answers"
                )
            ]
        (only,) = questions.values()
        return _check_options("text", only, [answer.text])
    given = answer.questions.answers
    if not given:
        return [FieldViolation("questions.answers", "no answers given")]
    violations: list[FieldViolation] = []
    for key in sorted(given):
        question = questions.get(key)
        if question is None:
            expected = ", ".join(sorted(questions))
            violations.append(
                FieldViolation(
                    map_key("questions.answers", key), f"no such question; expected one of {expected}"
                )
            )
        elif not given[key].answers:
            violations.append(
                FieldViolation(map_key("questions.answers", key) + ".answers", "must not be empty")
            )
        else:
            field = map_key("questions.answers", key) + ".answers"
            violations += _check_options(field, question, list(given[key].answers))
    for key in questions:
        if key not in given:
            violations.append(
                FieldViolation(
                    map_key("questions.answers", key), "not answered; every question needs an answer"
                )
            )
    return violations


def _check_options(
    field: str, question: human_loop_pb2.UserInputQuestion, values: list[str]
) -> list[FieldViolation]:
    labels = [o.label for o in question.options]
    if not labels or question.allow_other:
        return []
    wrong = [v for v in values if v not in labels]
    if wrong:
        return [FieldViolation(field, f"{wrong[0]!r} is not one of the options: {', '.join(labels)}")]
    return []


def _check_elicitation(
    details: human_loop_pb2.McpElicitationDetails, answer: human_loop_pb2.HumanLoopAnswer, which: str
) -> list[FieldViolation]:
    properties = _schema_fields(details)
    if which == "approval":
        return _check_decision(answer.approval.decision)
    if which == "questions":
        given = answer.questions.answers
        if not given:
            return [FieldViolation("questions.answers", "no answers given")]
        violations = []
        for key in sorted(given):
            if properties and key not in properties:
                violations.append(
                    FieldViolation(
                        map_key("questions.answers", key),
                        f"the MCP server asks for no such field; expected one of {', '.join(properties)}",
                    )
                )
        return violations
    if not answer.text.strip():
        return [FieldViolation("text", "must not be empty")]
    if len(properties) > 1 and not _is_json_object(answer.text):
        return [
            FieldViolation(
                "text",
                f"the MCP server asks for several fields ({', '.join(properties)}); "
                "send a JSON object or questions",
            )
        ]
    return []


def _schema_fields(details: human_loop_pb2.McpElicitationDetails) -> list[str]:
    schema = json_format.MessageToDict(details.requested_schema)
    properties = schema.get("properties")
    return sorted(properties) if isinstance(properties, Mapping) else []


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


# -- expiry and redaction ------------------------------------------------------


def expiry_answer(
    kind: RequestKind, details: human_loop_pb2.HumanLoopDetails
) -> human_loop_pb2.HumanLoopAnswer:
    """The decline sent to the agent when nobody answered in time."""
    decision = human_loop_pb2.APPROVAL_DECISION_DECLINE
    if kind == RequestKind.COMMAND_APPROVAL:
        offered = list(details.command_approval.available_decisions)
        if offered and decision not in offered and human_loop_pb2.APPROVAL_DECISION_CANCEL in offered:
            decision = human_loop_pb2.APPROVAL_DECISION_CANCEL
    return human_loop_pb2.HumanLoopAnswer(approval=human_loop_pb2.ApprovalAnswer(decision=decision))


def redact(
    details: human_loop_pb2.HumanLoopDetails, answer: human_loop_pb2.HumanLoopAnswer
) -> human_loop_pb2.HumanLoopAnswer:
    """``answer`` with the answers to secret questions replaced by :data:`REDACTED`."""
    secret = {q.id for q in details.user_input.questions if q.secret}
    if not secret:
        return answer
    shown = human_loop_pb2.HumanLoopAnswer()
    shown.CopyFrom(answer)
    which = shown.WhichOneof("answer")
    if which == "text" and len(details.user_input.questions) == 1:
        shown.text = REDACTED
    elif which == "questions":
        for key in secret & set(shown.questions.answers):
            entry = shown.questions.answers[key]
            del entry.answers[:]
            entry.answers.append(REDACTED)
    return shown


def same_answer(stored: Mapping[str, Any] | None, answer: human_loop_pb2.HumanLoopAnswer) -> bool:
    if stored is None:
        return False
    parsed = json_format.ParseDict(dict(stored), human_loop_pb2.HumanLoopAnswer(), ignore_unknown_fields=True)
    return bool(parsed == answer)
