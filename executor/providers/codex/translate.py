"""Codex app-server messages ⇄ ccplane protobufs.

``EventTranslator`` turns Codex notifications into typed ``RunEvent``s (seq
left 0) and Codex server requests into ``human_loop.requested`` events;
``codex_answer`` turns a ``HumanLoopAnswer`` into exactly the JSON result
Codex expects for that request kind.

Notifications handled (codex 0.163, app-server v2 protocol):

=====================================  ======================================
``thread/started``                     ``thread.started``
``turn/started`` / ``turn/completed``  ``turn.started`` / ``turn.completed``
``item/completed`` userMessage         ``message.user``
``item/agentMessage/delta``            ``message.delta``
``item/completed`` agentMessage        ``message.completed``
``item/completed`` reasoning           ``reasoning.summary`` (when summarized)
``item/started`` commandExecution      ``command.started``
``item/commandExecution/outputDelta``  ``command.output`` (capped and chunked,
                                       see ``command_output``)
``item/completed`` commandExecution    ``command.completed``
``item/completed`` fileChange          ``file_change.completed``
``turn/plan/updated``                  ``todos.updated``
``turn/diff/updated``                  ``turn.diff``
``thread/tokenUsage/updated``          ``usage.updated``
``error``                              ``error``
``warning`` / ``configWarning`` /      ``warning``
``deprecationNotice`` /
``guardianWarning``
``mcpServer/startupStatus/updated``    ``provider.raw``, plus ``warning`` when
                                       the server failed to start
anything else                          ``provider.raw`` (method + params)
=====================================  ======================================

Not reported because a later event carries the same content:
``item/started`` of user/agent messages, reasoning and file changes (their
``item/completed`` follows), and reasoning text deltas (the summary arrives
complete). ``serverRequest/resolved`` is handled by the session.

Seen of codex 0.163 and worth knowing downstream: ``command.output`` chunks
start after the command's first burst of output (which only appears in
``command.completed``'s aggregated output); a command that the read-only
sandbox blocks produces no command items at all (only the model sees the
failure); ``command.started``'s command is the shell invocation
(``/bin/bash -lc '…'``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from ccplane.v1 import common_pb2, events_pb2, human_loop_pb2
from executor.providers.codex.command_output import (
    DEFAULT_OUTPUT_LIMIT,
    OutputBudget,
    completed_output,
)
from executor.providers.errors import InvalidAnswerError

# Server request methods that wait for a person, by kind.
COMMAND_APPROVAL = "item/commandExecution/requestApproval"
FILE_CHANGE_APPROVAL = "item/fileChange/requestApproval"
PERMISSIONS_APPROVAL = "item/permissions/requestApproval"
USER_INPUT = "item/tool/requestUserInput"
MCP_ELICITATION = "mcpServer/elicitation/request"

HUMAN_LOOP_KINDS: dict[str, human_loop_pb2.HumanLoopKind] = {
    COMMAND_APPROVAL: human_loop_pb2.HUMAN_LOOP_KIND_COMMAND_APPROVAL,
    FILE_CHANGE_APPROVAL: human_loop_pb2.HUMAN_LOOP_KIND_FILE_CHANGE_APPROVAL,
    PERMISSIONS_APPROVAL: human_loop_pb2.HUMAN_LOOP_KIND_PERMISSIONS_APPROVAL,
    USER_INPUT: human_loop_pb2.HUMAN_LOOP_KIND_USER_INPUT,
    MCP_ELICITATION: human_loop_pb2.HUMAN_LOOP_KIND_MCP_ELICITATION,
}

_SUBSUMED_ITEM_STARTS = {"userMessage", "agentMessage", "reasoning", "fileChange"}
_SUBSUMED_METHODS = {
    "item/reasoning/summaryTextDelta",
    "item/reasoning/summaryPartAdded",
    "item/reasoning/textDelta",
}

_TURN_STATUS = {
    "completed": events_pb2.TURN_STATUS_COMPLETED,
    "interrupted": events_pb2.TURN_STATUS_INTERRUPTED,
    "failed": events_pb2.TURN_STATUS_FAILED,
}
_COMMAND_STATUS = {
    "completed": events_pb2.COMMAND_STATUS_COMPLETED,
    "failed": events_pb2.COMMAND_STATUS_FAILED,
    "declined": events_pb2.COMMAND_STATUS_DECLINED,
}
_PATCH_STATUS = {
    "completed": events_pb2.PATCH_STATUS_COMPLETED,
    "failed": events_pb2.PATCH_STATUS_FAILED,
    "declined": events_pb2.PATCH_STATUS_DECLINED,
}
_TODO_STATUS = {
    "pending": common_pb2.TODO_STATUS_PENDING,
    "inProgress": common_pb2.TODO_STATUS_IN_PROGRESS,
    "in_progress": common_pb2.TODO_STATUS_IN_PROGRESS,
    "completed": common_pb2.TODO_STATUS_COMPLETED,
}
_FILE_CHANGE_KIND = {
    "add": common_pb2.FILE_CHANGE_KIND_ADD,
    "update": common_pb2.FILE_CHANGE_KIND_UPDATE,
    "delete": common_pb2.FILE_CHANGE_KIND_DELETE,
}
_DECISIONS = {
    human_loop_pb2.APPROVAL_DECISION_ACCEPT: "accept",
    human_loop_pb2.APPROVAL_DECISION_ACCEPT_FOR_SESSION: "acceptForSession",
    human_loop_pb2.APPROVAL_DECISION_DECLINE: "decline",
    human_loop_pb2.APPROVAL_DECISION_CANCEL: "cancel",
}
_ALL_DECISIONS = list(_DECISIONS)


def new_event(run_id: str, type_: str, *, turn_id: str = "") -> events_pb2.RunEvent:
    event = events_pb2.RunEvent(run_id=run_id, type=type_, turn_id=turn_id)
    event.time.CopyFrom(_now())
    return event


def _now() -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.GetCurrentTime()
    return ts


def to_struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    # Round-trip through JSON: Struct accepts only JSON types.
    struct.update(json.loads(json.dumps(value, default=str)))
    return struct


def upper_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).replace("-", "_").upper()


class EventTranslator:
    """Stateful per session: remembers what later messages refer to."""

    def __init__(self, run_id: str, *, output_limit: int = DEFAULT_OUTPUT_LIMIT) -> None:
        self.run_id = run_id
        self.model = ""
        # Bytes of one command's output the log keeps (CCPLANE_COMMAND_OUTPUT_LIMIT).
        self.output_limit = output_limit
        # fileChange items by id: approval requests refer to them by id only.
        self._file_changes: dict[str, list[common_pb2.FileChange]] = {}
        self._commands: dict[str, tuple[str, str]] = {}
        # Running commands' output counters, by item id.
        self._outputs: dict[str, OutputBudget] = {}

    def event(self, type_: str, *, turn_id: str = "") -> events_pb2.RunEvent:
        return new_event(self.run_id, type_, turn_id=turn_id)

    # -- notifications -----------------------------------------------------

    def notification(self, method: str, params: Mapping[str, Any]) -> list[events_pb2.RunEvent]:
        """Events for one notification (often one, sometimes none)."""
        handler = _HANDLERS.get(method)
        if handler is not None:
            return handler(self, params)
        if method in _SUBSUMED_METHODS:
            return []
        return [self.raw(method, params)]

    def raw(self, method: str, params: Mapping[str, Any]) -> events_pb2.RunEvent:
        event = self.event("provider.raw", turn_id=_turn_id(params))
        event.provider_raw.method = method
        event.provider_raw.params.CopyFrom(to_struct(params))
        return event

    def _thread_started(self, params: Mapping[str, Any]) -> list[events_pb2.RunEvent]:
        thread = params.get("thread") or {}
        if thread.get("model"):
            self.model = str(thread["model"])
        return [self.thread_started(str(thread.get("id", "")), resumed=False)]

    def thread_started(self, thread_id: str, *, resumed: bool) -> events_pb2.RunEvent:
        event = self.event("thread.started")
        event.thread_started.thread_id = thread_id
        event.thread_started.resumed = resumed
        return event

    def _turn_started(self, params: Mapping[str, Any]) -> list[events_pb2.RunEvent]:
        turn_id = str((params.get("turn") or {}).get("id", ""))
        event = self.event("turn.started", turn_id=turn_id)
        event.turn_started.turn_id = turn_id
        event.turn_started.thread_id = str(params.get("threadId", ""))
        return [event]

    def _turn_completed(self, params: Mapping[str, Any]) -> list[events_pb2.RunEvent]:
        turn = params.get("turn") or {}
        turn_id = str(turn.get("id", ""))
        error = turn.get("error") or {}
        message = str(error.get("message", "")) if isinstance(error, Mapping) else str(error)
        return [self.turn_completed(turn_id, turn_status(turn.get("status")), message)]

    def turn_completed(
        self, turn_id: str, status: events_pb2.TurnStatus, error: str = ""
    ) -> events_pb2.RunEvent:
        event = self.event("turn.completed", turn_id=turn_id)
        event.turn_completed.turn_id = turn_id
        event.turn_completed.status = status
        event.turn_completed.error = error
        return event

    def _item_started(self, params: Mapping[str, Any]) -> list[events_pb2.RunEvent]:
        item = params.get("item") or {}
        kind = item.get("type")
        turn_id = _turn_id(params)
        if kind == "commandExecution":
            item_id, command, cwd = str(item.get("id", "")), _command(item), str(item.get("cwd", ""))
            self._commands[item_id] = (command, cwd)
            event = self.event("command.started", turn_id=turn_id)
            event.command_started.item_id = item_id
            event.command_started.command = command
            event.command_started.cwd = cwd
            return [event]
        if kind == "fileChange":
            self._file_changes[str(item.get("id", ""))] = _file_changes(item.get("changes"))
        if kind in _SUBSUMED_ITEM_STARTS:
            return []
        return [self.raw("item/started", params)]

    def _item_completed(self, params: Mapping[str, Any]) -> list[events_pb2.RunEvent]:
        item = params.get("item") or {}
        kind = item.get("type")
        item_id = str(item.get("id", ""))
        turn_id = _turn_id(params)
        if kind == "userMessage":
            event = self.event("message.user", turn_id=turn_id)
            event.user_message.item_id = item_id
            event.user_message.text = _user_text(item.get("content"))
            return [event]
        if kind == "agentMessage":
            event = self.event("message.completed", turn_id=turn_id)
            event.message_completed.item_id = item_id
            event.message_completed.text = str(item.get("text", ""))
            return [event]
        if kind == "reasoning":
            summary = "\n\n".join(str(s) for s in item.get("summary") or [] if s)
            if not summary:
                return []
            event = self.event("reasoning.summary", turn_id=turn_id)
            event.reasoning_summary.item_id = item_id
            event.reasoning_summary.text = summary
            return [event]
        if kind == "commandExecution":
            return [self._command_completed(item, turn_id)]
        if kind == "fileChange":
            changes = _file_changes(item.get("changes"))
            self._file_changes.pop(item_id, None)
            event = self.event("file_change.completed", turn_id=turn_id)
            event.file_change_completed.item_id = item_id
            event.file_change_completed.changes.extend(changes)
            event.file_change_completed.status = _PATCH_STATUS.get(
                str(item.get("status")), events_pb2.PATCH_STATUS_UNSPECIFIED
            )
            return [event]
        return [self.raw("item/completed", params)]

    def _command_completed(self, item: Mapping[str, Any], turn_id: str) -> events_pb2.RunEvent:
        item_id = str(item.get("id", ""))
        self._commands.pop(item_id, None)
        streamed = self._outputs.pop(item_id, None) or OutputBudget(self.output_limit)
        output = completed_output(str(item.get("aggregatedOutput") or ""), self.output_limit)
        event = self.event("command.completed", turn_id=turn_id)
        done = event.command_completed
        done.item_id = item_id
        done.command = _command(item)
        done.cwd = str(item.get("cwd", ""))
        done.status = _COMMAND_STATUS.get(str(item.get("status")), events_pb2.COMMAND_STATUS_UNSPECIFIED)
        if item.get("exitCode") is not None:
            done.exit_code = int(item["exitCode"])
        done.output = output.text
        done.duration_ms = int(item.get("durationMs") or 0)
        # Codex streams only part of a long output, and the start of it only
        # in the aggregate: the larger count is the closer one.
        done.output_bytes = max(streamed.seen, output.total_bytes)
        done.output_truncated = streamed.truncated or output.truncated
        return event

    def _message_delta(self, params: Mapping[str, Any]) -> list[events_pb2.RunEvent]:
        event = self.event("message.delta", turn_id=_turn_id(params))
        event.message_delta.item_id = str(params.get("itemId", ""))
        event.message_delta.delta = str(params.get("delta", ""))
        return [event]

    def _command_output(self, params: Mapping[str, Any]) -> list[events_pb2.RunEvent]:
        item_id, turn_id = str(params.get("itemId", "")), _turn_id(params)
        budget = self._outputs.get(item_id)
        if budget is None:
            budget = self._outputs[item_id] = OutputBudget(self.output_limit)
        chunks, crossed = budget.take(str(params.get("delta", "")))
        events = [self._output_chunk(item_id, turn_id, chunk) for chunk in chunks]
        if crossed:
            events.append(self._output_chunk(item_id, turn_id, budget.marker(), truncated=True))
        return events

    def _output_chunk(
        self, item_id: str, turn_id: str, chunk: str, *, truncated: bool = False
    ) -> events_pb2.RunEvent:
        event = self.event("command.output", turn_id=turn_id)
        event.command_output.item_id = item_id
        event.command_output.chunk = chunk
        event.command_output.truncated = truncated
        return event

    def _plan_updated(self, params: Mapping[str, Any]) -> list[events_pb2.RunEvent]:
        event = self.event("todos.updated", turn_id=_turn_id(params))
        for order, step in enumerate(params.get("plan") or []):
            event.todos_updated.items.add(
                text=str(step.get("step", "")),
                status=_TODO_STATUS.get(str(step.get("status")), common_pb2.TODO_STATUS_UNSPECIFIED),
                order=order,
            )
        event.todos_updated.explanation = str(params.get("explanation") or "")
        return [event]

    def _turn_diff(self, params: Mapping[str, Any]) -> list[events_pb2.RunEvent]:
        turn_id = _turn_id(params)
        event = self.event("turn.diff", turn_id=turn_id)
        event.turn_diff.turn_id = turn_id
        event.turn_diff.diff = str(params.get("diff") or "")
        return [event]

    def _usage(self, params: Mapping[str, Any]) -> list[events_pb2.RunEvent]:
        usage = params.get("tokenUsage") or {}
        event = self.event("usage.updated", turn_id=_turn_id(params))
        _fill_usage(event.usage_updated.last, usage.get("last") or {})
        _fill_usage(event.usage_updated.total, usage.get("total") or {})
        event.usage_updated.model = self.model
        return [event]

    def _error(self, params: Mapping[str, Any]) -> list[events_pb2.RunEvent]:
        error = params.get("error") or {}
        info = error.get("codexErrorInfo") if isinstance(error, Mapping) else None
        message = str(error.get("message", "")) if isinstance(error, Mapping) else str(error)
        details = error.get("additionalDetails") if isinstance(error, Mapping) else None
        if details:
            message = f"{message} ({details})"
        return [
            self.error(
                message,
                reason=error_reason(info),
                will_retry=bool(params.get("willRetry")),
                turn_id=_turn_id(params),
            )
        ]

    def error(
        self, message: str, *, reason: str = "", will_retry: bool = False, turn_id: str = ""
    ) -> events_pb2.RunEvent:
        event = self.event("error", turn_id=turn_id)
        event.error.message = message
        event.error.reason = reason
        event.error.will_retry = will_retry
        return event

    def warning(self, message: str, *, reason: str = "") -> events_pb2.RunEvent:
        event = self.event("warning")
        # The generated stub types this field as the builtin Warning.
        warning = event.warning
        warning.message = message
        warning.reason = reason
        return event

    def _warning(self, params: Mapping[str, Any]) -> list[events_pb2.RunEvent]:
        return [self.warning(str(params.get("message", "")), reason="CODEX_WARNING")]

    def _config_warning(self, params: Mapping[str, Any]) -> list[events_pb2.RunEvent]:
        text = str(params.get("summary", ""))
        if params.get("details"):
            text = f"{text}\n{params['details']}"
        return [self.warning(text, reason="CODEX_CONFIG_WARNING")]

    def _deprecation(self, params: Mapping[str, Any]) -> list[events_pb2.RunEvent]:
        text = str(params.get("summary", ""))
        if params.get("details"):
            text = f"{text}\n{params['details']}"
        return [self.warning(text, reason="CODEX_DEPRECATION")]

    def _guardian_warning(self, params: Mapping[str, Any]) -> list[events_pb2.RunEvent]:
        return [self.warning(str(params.get("message", "")), reason="CODEX_GUARDIAN_WARNING")]

    def _mcp_status(self, params: Mapping[str, Any]) -> list[events_pb2.RunEvent]:
        events = [self.raw("mcpServer/startupStatus/updated", params)]
        if params.get("status") == "failed":
            detail = params.get("error") or params.get("failureReason") or "unknown error"
            message = f"MCP server {params.get('name', '?')!r} failed to start: {detail}"
            events.append(self.warning(message, reason="MCP_SERVER_FAILED"))
        return events

    # -- server requests ---------------------------------------------------

    def human_loop_requested(
        self, question_id: str, method: str, params: Mapping[str, Any]
    ) -> events_pb2.RunEvent:
        """The ``human_loop.requested`` event for a server request of a
        kind in ``HUMAN_LOOP_KINDS``."""
        event = self.event("human_loop.requested", turn_id=_turn_id(params))
        requested = event.human_loop_requested
        requested.question_id = question_id
        requested.kind = HUMAN_LOOP_KINDS[method]
        requested.item_id = str(params.get("itemId") or "")
        details = requested.details
        if method == COMMAND_APPROVAL:
            item_id = str(params.get("itemId", ""))
            known_command, known_cwd = self._commands.get(item_id, ("", ""))
            command = details.command_approval
            command.item_id = item_id
            command.command = str(params.get("command") or known_command)
            command.cwd = str(params.get("cwd") or known_cwd)
            command.reason = _approval_reason(params)
            command.available_decisions.extend(_ALL_DECISIONS)
        elif method == FILE_CHANGE_APPROVAL:
            item_id = str(params.get("itemId", ""))
            patch = details.file_change_approval
            patch.item_id = item_id
            patch.changes.extend(self._file_changes.get(item_id, []))
            patch.reason = str(params.get("reason") or "")
            patch.grant_root = str(params.get("grantRoot") or "")
        elif method == PERMISSIONS_APPROVAL:
            perms = details.permissions_approval
            perms.item_id = str(params.get("itemId", ""))
            perms.reason = str(params.get("reason") or "")
            perms.permissions.CopyFrom(to_struct(params.get("permissions") or {}))
        elif method == USER_INPUT:
            user_input = details.user_input
            user_input.item_id = str(params.get("itemId", ""))
            for question in params.get("questions") or []:
                user_input.questions.add(
                    id=str(question.get("id", "")),
                    header=str(question.get("header") or ""),
                    question=str(question.get("question") or ""),
                    options=[
                        human_loop_pb2.UserInputOption(
                            label=str(o.get("label", "")), description=str(o.get("description", ""))
                        )
                        for o in question.get("options") or []
                    ],
                    allow_other=bool(question.get("isOther")),
                    secret=bool(question.get("isSecret")),
                )
        elif method == MCP_ELICITATION:
            elicitation = details.mcp_elicitation
            elicitation.server_name = str(params.get("serverName", ""))
            message = str(params.get("message", ""))
            if params.get("mode") == "url" and params.get("url"):
                message = f"{message}\n{params['url']}"
            elicitation.message = message
            schema = params.get("requestedSchema")
            if isinstance(schema, Mapping):
                elicitation.requested_schema.CopyFrom(to_struct(schema))
        return event


_HANDLERS = {
    "thread/started": EventTranslator._thread_started,
    "turn/started": EventTranslator._turn_started,
    "turn/completed": EventTranslator._turn_completed,
    "item/started": EventTranslator._item_started,
    "item/completed": EventTranslator._item_completed,
    "item/agentMessage/delta": EventTranslator._message_delta,
    "item/commandExecution/outputDelta": EventTranslator._command_output,
    "turn/plan/updated": EventTranslator._plan_updated,
    "turn/diff/updated": EventTranslator._turn_diff,
    "thread/tokenUsage/updated": EventTranslator._usage,
    "error": EventTranslator._error,
    "warning": EventTranslator._warning,
    "configWarning": EventTranslator._config_warning,
    "deprecationNotice": EventTranslator._deprecation,
    "guardianWarning": EventTranslator._guardian_warning,
    "mcpServer/startupStatus/updated": EventTranslator._mcp_status,
}


def turn_status(status: Any) -> events_pb2.TurnStatus:
    return _TURN_STATUS.get(str(status), events_pb2.TURN_STATUS_UNSPECIFIED)


def error_reason(info: Any) -> str:
    """``codexErrorInfo`` (``"unauthorized"`` or ``{"httpConnectionFailed": …}``)
    as an UPPER_SNAKE_CASE reason."""
    if isinstance(info, str) and info:
        return upper_snake(info)
    if isinstance(info, Mapping) and info:
        return upper_snake(str(next(iter(info))))
    return ""


def _turn_id(params: Mapping[str, Any]) -> str:
    turn_id = params.get("turnId")
    if turn_id is None and isinstance(params.get("turn"), Mapping):
        turn_id = params["turn"].get("id")
    return str(turn_id or "")


def _command(item: Mapping[str, Any]) -> str:
    command = item.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def _user_text(content: Any) -> str:
    parts = []
    for piece in content or []:
        if isinstance(piece, Mapping) and piece.get("type") == "text":
            parts.append(str(piece.get("text", "")))
    return "\n".join(parts)


def _file_changes(changes: Any) -> list[common_pb2.FileChange]:
    result = []
    for change in changes or []:
        kind = change.get("kind") or {}
        kind_name = kind.get("type") if isinstance(kind, Mapping) else kind
        result.append(
            common_pb2.FileChange(
                path=str(change.get("path", "")),
                kind=_FILE_CHANGE_KIND.get(str(kind_name), common_pb2.FILE_CHANGE_KIND_UNSPECIFIED),
                diff=str(change.get("diff") or ""),
                move_path=str((kind.get("move_path") if isinstance(kind, Mapping) else "") or ""),
            )
        )
    return result


def _fill_usage(target: common_pb2.Usage, usage: Mapping[str, Any]) -> None:
    target.input_tokens = int(usage.get("inputTokens") or 0)
    target.cached_input_tokens = int(usage.get("cachedInputTokens") or 0)
    target.output_tokens = int(usage.get("outputTokens") or 0)
    target.reasoning_output_tokens = int(usage.get("reasoningOutputTokens") or 0)
    target.total_tokens = int(usage.get("totalTokens") or 0)


def _approval_reason(params: Mapping[str, Any]) -> str:
    reason = str(params.get("reason") or "")
    network = params.get("networkApprovalContext")
    if isinstance(network, Mapping) and network.get("host"):
        extra = f"network access to {network.get('protocol', '')}://{network['host']}"
        reason = f"{reason} ({extra})" if reason else extra
    return reason


# -- answers ---------------------------------------------------------------


def codex_answer(
    method: str, params: Mapping[str, Any], answer: human_loop_pb2.HumanLoopAnswer
) -> dict[str, Any]:
    """The JSON result Codex expects for ``method``; InvalidAnswerError
    (naming the field) when the answer does not fit the request."""
    which = answer.WhichOneof("answer")
    if which is None:
        raise InvalidAnswerError("answer", "no answer given (set approval, questions or text)")
    if method in (COMMAND_APPROVAL, FILE_CHANGE_APPROVAL):
        return {"decision": _decision(answer, which, _kind_label(method))}
    if method == PERMISSIONS_APPROVAL:
        decision = _decision(answer, which, "a permissions request")
        if decision in ("accept", "acceptForSession"):
            return {
                "permissions": dict(params.get("permissions") or {}),
                "scope": "session" if decision == "acceptForSession" else "turn",
            }
        return {"permissions": {}, "scope": "turn"}
    if method == USER_INPUT:
        return _user_input_answer(params, answer, which)
    if method == MCP_ELICITATION:
        return _elicitation_answer(params, answer, which)
    raise InvalidAnswerError("question_id", f"requests of type {method!r} cannot be answered")


def _kind_label(method: str) -> str:
    return "a command approval" if method == COMMAND_APPROVAL else "a file-change approval"


def _decision(answer: human_loop_pb2.HumanLoopAnswer, which: str, label: str) -> str:
    if which != "approval":
        raise InvalidAnswerError("answer.approval", f"{label} needs an approval decision")
    decision = _DECISIONS.get(answer.approval.decision)
    if decision is None:
        raise InvalidAnswerError("answer.approval.decision", "must be set")
    return decision


def _user_input_answer(
    params: Mapping[str, Any], answer: human_loop_pb2.HumanLoopAnswer, which: str
) -> dict[str, Any]:
    question_ids = [str(q.get("id", "")) for q in params.get("questions") or []]
    if which == "approval":
        decision = answer.approval.decision
        if decision in (human_loop_pb2.APPROVAL_DECISION_DECLINE, human_loop_pb2.APPROVAL_DECISION_CANCEL):
            return {"answers": {}}  # the person declined to answer
        raise InvalidAnswerError(
            "answer.approval", "questions are answered with answer.questions or answer.text"
        )
    if which == "text":
        if len(question_ids) != 1:
            raise InvalidAnswerError(
                "answer.text",
                f"the request has {len(question_ids)} questions; answer with answer.questions",
            )
        return {"answers": {question_ids[0]: {"answers": [answer.text]}}}
    given = answer.questions.answers
    if not given:
        raise InvalidAnswerError("answer.questions.answers", "no answers given")
    result: dict[str, Any] = {}
    for question_id, values in given.items():
        if question_id not in question_ids:
            raise InvalidAnswerError(
                f"answer.questions.answers[{question_id!r}]",
                f"no such question; expected one of {question_ids}",
            )
        if not values.answers:
            raise InvalidAnswerError(
                f"answer.questions.answers[{question_id!r}].answers", "must not be empty"
            )
        result[question_id] = {"answers": list(values.answers)}
    return {"answers": result}


def _elicitation_answer(
    params: Mapping[str, Any], answer: human_loop_pb2.HumanLoopAnswer, which: str
) -> dict[str, Any]:
    if which == "approval":
        decision = _DECISIONS.get(answer.approval.decision)
        if decision is None:
            raise InvalidAnswerError("answer.approval.decision", "must be set")
        if decision in ("accept", "acceptForSession"):
            return {"action": "accept", "content": {}}
        return {"action": decision, "content": None}
    if which == "questions":
        fields = {
            key: (list(v.answers) if len(v.answers) != 1 else v.answers[0])
            for key, v in answer.questions.answers.items()
        }
        return {"action": "accept", "content": fields}
    text = answer.text
    parsed: Any
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return {"action": "accept", "content": parsed}
    schema = params.get("requestedSchema")
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    if isinstance(properties, Mapping) and len(properties) == 1:
        return {"action": "accept", "content": {next(iter(properties)): text}}
    if params.get("mode") == "url":
        return {"action": "accept", "content": None}
    raise InvalidAnswerError(
        "answer.text", "the MCP server asks for several fields; send a JSON object or questions"
    )
