"""The spans of one hosted session: ``ccplane.session`` and what happens in it.

``ccplane.session`` lasts from the start request to the session's end, a
child of the ``Session`` call that started it (and so of the run's trace).
Under it: ``ccplane.workspace.restore``, ``ccplane.workspace.sync`` (after
each turn and at the end), one ``ccplane.codex.turn`` per turn and, under its
turn, one ``ccplane.codex.command`` per command. Turns and commands begin at
one event and end at another, so their spans are kept by turn and item id and
ended explicitly; any still open when the session ends end with it.

Each span carries the run id and tenant; commands their first
:data:`~common.tracing.MAX_ATTRIBUTE_CHARS` characters (never the
session's environment).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, StatusCode
from opentelemetry.util.types import AttributeValue

from ccplane.v1 import events_pb2
from common import tracing

_TRACER = trace.get_tracer("ccplane.executor")


class SessionSpans:
    """The open spans of one session (see the module docstring)."""

    def __init__(
        self, run_id: str, tenant: str, attributes: Mapping[str, AttributeValue] | None = None
    ) -> None:
        self._attributes = tracing.run_attributes(run_id, tenant)
        # The parent is the current span: the Session call starting it.
        self.session = _TRACER.start_span(
            "ccplane.session", attributes={**self._attributes, **(attributes or {})}
        )
        self._in_session = trace.set_span_in_context(self.session)
        self._turns: dict[str, tuple[Span, Context]] = {}
        self._commands: dict[str, Span] = {}
        self._ended = False

    @contextlib.contextmanager
    def restore(self, workspace_id: str, version: int) -> Iterator[Span]:
        with self._child(
            "ccplane.workspace.restore",
            self._in_session,
            {"ccplane.workspace_id": workspace_id, "ccplane.workspace.version": version},
        ) as span:
            yield span

    @contextlib.contextmanager
    def sync(self, turn_id: str) -> Iterator[Span]:
        with self._child("ccplane.workspace.sync", self._in_session, {"ccplane.turn_id": turn_id}) as span:
            yield span

    def on_event(self, event: events_pb2.RunEvent) -> None:
        """Start or end the turn or command span ``event`` reports."""
        if self._ended:
            return
        kind = event.type
        if kind == "turn.started":
            turn_id = event.turn_started.turn_id or event.turn_id
            if turn_id and turn_id not in self._turns:
                span = self._start("ccplane.codex.turn", self._in_session, {"ccplane.turn_id": turn_id})
                self._turns[turn_id] = (span, trace.set_span_in_context(span))
        elif kind == "turn.completed":
            done = event.turn_completed
            turn = self._turns.pop(done.turn_id or event.turn_id, None)
            if turn is not None:
                status = events_pb2.TurnStatus.Name(done.status).removeprefix("TURN_STATUS_").lower()
                turn[0].set_attribute("ccplane.turn.status", status)
                if done.status == events_pb2.TURN_STATUS_FAILED:
                    turn[0].set_status(StatusCode.ERROR, tracing.truncate(done.error))
                turn[0].end()
        elif kind == "command.started":
            started = event.command_started
            if started.item_id and started.item_id not in self._commands:
                turn = self._turns.get(event.turn_id)
                parent = turn[1] if turn is not None else self._in_session
                self._commands[started.item_id] = self._start(
                    "ccplane.codex.command",
                    parent,
                    {
                        "ccplane.turn_id": event.turn_id,
                        "ccplane.item_id": started.item_id,
                        "ccplane.command": tracing.truncate(started.command),
                    },
                )
        elif kind == "command.completed":
            completed = event.command_completed
            command = self._commands.pop(completed.item_id, None)
            if command is not None:
                command.set_attribute(
                    "ccplane.command.status",
                    events_pb2.CommandStatus.Name(completed.status).removeprefix("COMMAND_STATUS_").lower(),
                )
                if completed.HasField("exit_code"):
                    command.set_attribute("ccplane.command.exit_code", completed.exit_code)
                command.end()

    def end(self, *, failed: bool = False, reason: str = "") -> None:
        """End the session's span, and whatever turn or command is still open."""
        if self._ended:
            return
        self._ended = True
        for span in [*self._commands.values(), *(turn for turn, _ in self._turns.values())]:
            span.set_attribute("ccplane.ended_with_session", True)
            span.end()
        self._commands.clear()
        self._turns.clear()
        if failed:
            self.session.set_status(StatusCode.ERROR, tracing.truncate(reason))
        self.session.end()

    def _start(self, name: str, parent: Context, attributes: dict[str, AttributeValue]) -> Span:
        return _TRACER.start_span(name, context=parent, attributes={**self._attributes, **attributes})

    @contextlib.contextmanager
    def _child(self, name: str, parent: Context, attributes: dict[str, AttributeValue]) -> Iterator[Span]:
        span = self._start(name, parent, attributes)
        with trace.use_span(span, end_on_exit=True):
            yield span
