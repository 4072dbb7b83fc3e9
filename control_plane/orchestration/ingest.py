"""Persisting a live session's outputs: events, status, thread, usage,
human-loop requests and todos.

One batch of outputs is written in one transaction, in order: the events get
their gap-free seqs, status changes they imply go through the state machine
(so they sit at the right place in the log), the thread id and per-turn
usage are recorded, executor answers to commands are stored, and the run's
``executor_seq`` advances to the last output of the batch — which is where a
re-attach resumes, so nothing is lost or written twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from google.protobuf import json_format
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ccplane.v1 import events_pb2, executor_pb2
from common.db import models
from common.objectstore.base import ObjectStore
from control_plane.events.log import event_type
from control_plane.human_loop import store as human_loop
from control_plane.human_loop.ingest import append_session_events
from control_plane.orchestration import commands
from control_plane.runs.state_machine import TERMINAL, RunStatus, transition
from control_plane.workspaces.runs import record_synced_event

log = logging.getLogger(__name__)

_TURN_STATUS = events_pb2.TurnStatus


@dataclass
class LiveRun:
    """What the driver of a live run knows about it."""

    run_id: str
    tenant_id: str
    trace_id: str
    model: str
    status: RunStatus
    executor_seq: int = 0
    thread_id: str = ""
    stateless: bool = False
    # How long a human-loop request waits when the run sets no timeout.
    human_loop_timeout_s: float = 3600.0
    # The CreateRun span the run's later spans are children of.
    trace_span_id: str = ""


@dataclass
class BatchOutcome:
    turns_completed: list[events_pb2.TurnCompleted] = field(default_factory=list)
    ended: executor_pb2.SessionEnded | None = None
    failed_commands: list[int] = field(default_factory=list)
    # The run had already ended (reconciled while its executor was away):
    # nothing more of this session is stored.
    over: bool = False


async def ingest(
    session: AsyncSession,
    run: LiveRun,
    outputs: list[executor_pb2.SessionOutput],
    objects: ObjectStore | None = None,
) -> BatchOutcome:
    """Write ``outputs`` (in executor-seq order, all newer than run.executor_seq)."""
    outcome = BatchOutcome()
    pending: list[events_pb2.RunEvent] = []

    async def flush() -> None:
        if pending:
            await append_session_events(
                session, run.run_id, pending, default_timeout_s=run.human_loop_timeout_s
            )
            pending.clear()

    last_seq = run.executor_seq
    for output in outputs:
        if output.executor_seq <= last_seq:
            continue  # already stored before a re-attach
        last_seq = output.executor_seq
        kind = output.WhichOneof("output")
        if run.status in (RunStatus.STARTING, RunStatus.LOST):
            # The session answers: it started, or its executor is back.
            await flush()
            await recover_or_start(session, run)
            if run.status in TERMINAL:
                outcome.over = True
                break
        if kind == "event":
            event = output.event
            event.run_id = run.run_id
            event.type = event_type(event)  # raises on a type that contradicts the payload
            if not event.trace_id:
                event.trace_id = run.trace_id
            if event.type == "thread.started" and event.thread_started.thread_id != run.thread_id:
                run.thread_id = event.thread_started.thread_id
                await session.execute(
                    update(models.AgentRun)
                    .where(models.AgentRun.id == run.run_id)
                    .values(thread_id=run.thread_id)
                )
            pending.append(event)
            if event.type == "workspace.synced" and objects is not None:
                refused = await record_synced_event(session, objects, run.run_id, event)
                if refused is not None:
                    pending.append(refused)
            if event.type == "turn.completed":
                await flush()
                await _record_turn_usage(session, run, event.turn_id or event.turn_completed.turn_id)
                outcome.turns_completed.append(event.turn_completed)
        elif kind == "action_result":
            result = output.action_result
            command_id = commands.command_id_from_ref(result.ref)
            if result.action == "reply":
                await flush()
                await human_loop.mark_delivered(session, result.ref, code=result.code, message=result.message)
            elif command_id is not None:
                if result.code == 0 or result.action != "inject":
                    await commands.mark_delivered(session, command_id, result.code, result.message)
                else:
                    # The session could not take the message (it was closing):
                    # it stays pending and starts a follow-up turn later.
                    outcome.failed_commands.append(command_id)
        elif kind == "ended":
            outcome.ended = output.ended
    await flush()
    await session.execute(
        update(models.AgentRun).where(models.AgentRun.id == run.run_id).values(executor_seq=last_seq)
    )
    run.executor_seq = last_seq
    return outcome


async def recover_or_start(session: AsyncSession, run: LiveRun) -> None:
    """The session answers: ``starting`` → running, ``lost`` → running (or
    back to waiting_human); ``run.status`` is a final one when the run ended
    meanwhile (the change is then refused)."""
    recovered = run.status == RunStatus.LOST
    reason = "executor reachable again" if recovered else "session started"
    await _move(session, run, RunStatus.RUNNING, reason)
    if recovered:  # back to waiting_human if a person still has to answer
        settled = await human_loop.settle_run_status(session, run.run_id, reason)
        if settled is not None:
            run.status = settled.status


async def _move(
    session: AsyncSession, run: LiveRun, status: RunStatus, reason: str, **kw: str | None
) -> None:
    result = await transition(session, run.run_id, status, reason, **kw)  # type: ignore[arg-type]
    run.status = result.status
    if not result.accepted:
        log.info("transition rejected: %s", result.reason, extra={"run_id": run.run_id})


_USAGE_FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
    "total_tokens",
)


async def _record_turn_usage(session: AsyncSession, run: LiveRun, turn_id: str) -> None:
    """One usage_logs row per turn: the sum of the turn's model calls."""
    payloads = (
        await session.execute(
            select(models.RunEvent.payload).where(
                models.RunEvent.run_id == run.run_id,
                models.RunEvent.type == "usage.updated",
                models.RunEvent.turn_id == turn_id,
            )
        )
    ).scalars()
    totals = dict.fromkeys(_USAGE_FIELDS, 0)
    model = run.model
    for payload in payloads:
        usage = json_format.ParseDict(payload, events_pb2.UsageUpdated(), ignore_unknown_fields=True)
        model = usage.model or model
        for name in _USAGE_FIELDS:
            totals[name] += getattr(usage.last, name)
    session.add(
        models.UsageLog(run_id=run.run_id, tenant_id=run.tenant_id, turn_id=turn_id, model=model, **totals)
    )
    await session.execute(
        update(models.AgentRun)
        .where(models.AgentRun.id == run.run_id)
        .values({name: getattr(models.AgentRun, name) + value for name, value in totals.items()})
    )
