"""Every change to a human-loop request, each with the event that reports it.

A request is ``pending`` until exactly one of: a person answers it
(``resolved``, :func:`reply`), its deadline passes (``expired``,
:func:`expire_due`), or it is withdrawn (``canceled``: the run was stopped or
its session ended, :func:`cancel_pending`; the agent no longer needs it,
:func:`on_withdrawn`). Each change appends its ``human_loop.*`` event in the
same transaction.

The run is ``waiting_human`` exactly while it is live and has a pending
request: every function here ends with :func:`settle_run_status`, which moves
``running`` → ``waiting_human`` when a request is pending and back when none
is. The run returns to ``running`` when the *person's* part is done (the
request is resolved, expired or canceled), not when the executor confirms
delivery: the status tells who the run waits for, and delivery is the
control plane's job, tracked separately in ``delivered_at``.

Answers reach the agent through the process that owns the run's session:
:func:`reply` and :func:`expire_due` NOTIFY ``ccplane_run_commands`` with the
run id; the owner reads :func:`pending_deliveries`, sends each answer down the
session stream (``DeliverReply``), and records the executor's result with
:func:`mark_delivered`.

Locking: every function locks the run row (``SELECT … FOR UPDATE``) before it
touches the run's requests, and :func:`expire_due` locks runs in id order.
Appending events and changing the run's status lock that row anyway; taking
it first everywhere means concurrent replies, expiry, cancellation and the
ingest of the run's outputs queue up behind each other instead of
deadlocking, and a request read under the lock is current.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import grpc
from opentelemetry import trace
from sqlalchemy import exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ccplane.v1 import events_pb2, human_loop_pb2
from common import errors, ids, tracing
from common.db import models
from control_plane.auth import Caller
from control_plane.events.log import append_events
from control_plane.human_loop.answers import (
    answer_of,
    check_answer,
    describe,
    expiry_answer,
    redact,
    same_answer,
)
from control_plane.human_loop.convert import (
    answer_from_json,
    details_from_json,
    kind_from_proto,
    to_json,
)
from control_plane.human_loop.records import (
    HumanLoopRecord,
    PendingDelivery,
    RecordedRequest,
    RequestKind,
    RequestStatus,
)
from control_plane.orchestration import commands
from control_plane.runs.state_machine import RunStatus, TransitionResult, transition
from control_plane.runs.validation import settings_from_json

Row = models.HumanLoopRequest

REQUESTED: Final = "human_loop.requested"
RESOLVED: Final = "human_loop.resolved"
EXPIRED: Final = "human_loop.expired"
CANCELED: Final = "human_loop.canceled"
NOT_DELIVERED_REASON: Final = "HUMAN_LOOP_NOT_DELIVERED"
EXPIRE_BATCH: Final = 500

_ANSWERED = (RequestStatus.RESOLVED.value, RequestStatus.EXPIRED.value)
# Executor results that mean the agent has the answer (a re-sent reply is
# refused as already answered).
_DELIVERED_CODES = frozenset({grpc.StatusCode.OK.value[0], grpc.StatusCode.ALREADY_EXISTS.value[0]})
_TRACER = trace.get_tracer("ccplane.control_plane")


@dataclass(frozen=True)
class _LockedRun:
    status: RunStatus
    tenant_id: str
    workspace_id: str | None
    settings: dict[str, Any]
    trace_id: str
    trace_span_id: str


async def _lock_run(session: AsyncSession, run_id: str) -> _LockedRun:
    row = (
        await session.execute(
            select(
                models.AgentRun.status,
                models.AgentRun.tenant_id,
                models.AgentRun.workspace_id,
                models.AgentRun.settings,
                models.AgentRun.trace_id,
                models.AgentRun.trace_span_id,
            )
            .where(models.AgentRun.id == run_id)
            .with_for_update()
        )
    ).one_or_none()
    if row is None:
        raise errors.not_found("run", run_id)
    return _LockedRun(
        RunStatus(row.status),
        row.tenant_id,
        row.workspace_id,
        dict(row.settings or {}),
        row.trace_id,
        row.trace_span_id,
    )


async def run_trace(session: AsyncSession, tenant_id: str, run_id: str) -> tuple[str, str] | None:
    """The (trace id, CreateRun span id) of the tenant's run, for spans of its trace."""
    row = (
        await session.execute(
            select(models.AgentRun.trace_id, models.AgentRun.trace_span_id).where(
                models.AgentRun.id == run_id, models.AgentRun.tenant_id == tenant_id
            )
        )
    ).one_or_none()
    return None if row is None else (row.trace_id, row.trace_span_id)


async def _now(session: AsyncSession) -> datetime:
    """The database's clock (the transaction's start): one clock for every deadline."""
    now = await session.scalar(select(func.now()))
    assert isinstance(now, datetime)
    return now


def _timeout(settings: dict[str, Any], default_timeout_s: float) -> timedelta:
    duration = settings_from_json(settings).human_loop_timeout
    timeout = duration.ToTimedelta()
    return timeout if timeout > timedelta(0) else timedelta(seconds=default_timeout_s)


def _event(run: _LockedRun, turn_id: str | None, **payload: Any) -> events_pb2.RunEvent:
    return events_pb2.RunEvent(trace_id=run.trace_id, turn_id=turn_id or "", **payload)


async def _select_request(session: AsyncSession, question_id: str) -> Row | None:
    return (
        await session.execute(
            select(Row).where(Row.question_id == question_id).execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def _set_status(
    session: AsyncSession, run: _LockedRun, question_id: str, status: RequestStatus, **values: Any
) -> HumanLoopRecord | None:
    """Move a *pending* request to ``status``; None when it is no longer pending.

    Every request leaves ``pending`` here: its ``ccplane.human_loop.wait``
    span, from being asked to now, is recorded then (the database's clock)."""
    row = (
        await session.execute(
            update(Row)
            .where(Row.question_id == question_id, Row.status == RequestStatus.PENDING.value)
            .values(status=status.value, resolved_at=func.now(), **values)
            .returning(Row)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    record = HumanLoopRecord.from_row(row)
    _trace_wait(run, record)
    return record


def _trace_wait(run: _LockedRun, record: HumanLoopRecord) -> None:
    span = tracing.start_run_span(
        _TRACER,
        "ccplane.human_loop.wait",
        trace_id=run.trace_id,
        span_id=run.trace_span_id,
        run_id=record.run_id,
        tenant=record.tenant_id,
        attributes={
            "ccplane.question_id": record.question_id,
            "ccplane.human_loop.kind": record.kind.value,
            "ccplane.human_loop.outcome": record.status.value,
        },
        start_time=_ns(record.created_at),
    )
    span.end(_ns(record.resolved_at) if record.resolved_at is not None else None)


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


# -- the run's status -----------------------------------------------------------


async def settle_run_status(session: AsyncSession, run_id: str, reason: str = "") -> TransitionResult | None:
    """Keep the run ``waiting_human`` exactly while one of its requests is pending.

    ``running`` with a pending request → ``waiting_human``; ``waiting_human``
    with none → ``running``; any other status is left alone (a lost run
    re-attached as ``running`` with pending requests is moved back to
    ``waiting_human`` by calling this). Returns the transition made, if any.
    """
    run = await _lock_run(session, run_id)
    pending = await session.scalar(
        select(exists().where(Row.run_id == run_id, Row.status == RequestStatus.PENDING.value))
    )
    if run.status == RunStatus.RUNNING and pending:
        return await transition(session, run_id, RunStatus.WAITING_HUMAN, reason or "waiting for a person")
    if run.status == RunStatus.WAITING_HUMAN and not pending:
        return await transition(session, run_id, RunStatus.RUNNING, reason or "no request waits for a person")
    return None


# -- requests from the agent -------------------------------------------------------


async def record_request(
    session: AsyncSession, run_id: str, event: events_pb2.RunEvent, *, default_timeout_s: float
) -> RecordedRequest:
    """Store a ``human_loop.requested`` event from the run's session, and the request it asks.

    Call inside the ingest transaction *instead of* appending the event, after
    appending the events that came before it: this appends it (with
    ``expires_at`` set: now plus the run's ``human_loop_timeout``, or
    ``default_timeout_s`` when the run sets none), inserts the pending
    request with the event's seq, and moves a ``running`` run to
    ``waiting_human`` (that status change follows the event in the log).

    A question id already recorded (a replay after re-attaching) writes
    nothing and returns the stored request with ``created=False``. Raises
    ``ValueError`` for an event that is not a well-formed request.
    """
    if event.WhichOneof("payload") != "human_loop_requested":
        raise ValueError(f"not a {REQUESTED} event: {event.type!r}")
    asked = event.human_loop_requested
    if not ids.is_valid(ids.QUESTION, asked.question_id):
        raise ValueError(f"malformed question id {asked.question_id!r}")
    kind = kind_from_proto(asked.kind)
    run = await _lock_run(session, run_id)
    existing = await _select_request(session, asked.question_id)
    if existing is not None:
        return RecordedRequest(
            HumanLoopRecord.from_row(existing), False, existing.request_seq, run.status.value
        )

    expires_at = await _now(session) + _timeout(run.settings, default_timeout_s)
    asked.expires_at.FromDatetime(expires_at)
    event.trace_id = event.trace_id or run.trace_id
    (seq,) = await append_events(session, run_id, [event])
    row = (
        await session.execute(
            insert(Row)
            .values(
                question_id=asked.question_id,
                run_id=run_id,
                tenant_id=run.tenant_id,
                workspace_id=run.workspace_id,
                kind=kind.value,
                status=RequestStatus.PENDING.value,
                details=to_json(asked.details),
                turn_id=event.turn_id or None,
                item_id=asked.item_id or None,
                request_seq=seq,
                expires_at=expires_at,
            )
            .returning(Row)
        )
    ).scalar_one()
    moved = await settle_run_status(session, run_id, f"waiting for a person to answer {asked.question_id}")
    status = moved.status.value if moved is not None and moved.accepted else run.status.value
    return RecordedRequest(HumanLoopRecord.from_row(row), True, seq, status)


async def on_withdrawn(session: AsyncSession, run_id: str, event: events_pb2.RunEvent) -> bool:
    """Store a ``human_loop.canceled`` event from the run's session: the agent withdrew a request.

    Call inside the ingest transaction *instead of* appending the event,
    after appending the events that came before it. A pending request becomes
    ``canceled``, the event is appended and the run's status settled; returns
    True. A request that was already answered, expired or canceled (or is
    unknown) is left as it is and the event is dropped, so that every request
    ends in exactly one event; returns False. (An answer not yet delivered
    then comes back from the executor as a failed delivery, see
    :func:`mark_delivered`.)
    """
    if event.WhichOneof("payload") != "human_loop_canceled":
        raise ValueError(f"not a {CANCELED} event: {event.type!r}")
    question_id = event.human_loop_canceled.question_id
    run = await _lock_run(session, run_id)
    existing = await _select_request(session, question_id)
    if existing is None or existing.run_id != run_id:
        return False
    if await _set_status(session, run, question_id, RequestStatus.CANCELED) is None:
        return False
    event.trace_id = event.trace_id or run.trace_id
    await append_events(session, run_id, [event])
    await settle_run_status(session, run_id, f"{question_id} withdrawn by the agent")
    return True


# -- answers from people ---------------------------------------------------------


async def reply(
    session: AsyncSession, caller: Caller, request: human_loop_pb2.ReplyRequest
) -> tuple[HumanLoopRecord, bool]:
    """Answer a request; returns ``(request, already_resolved)``. Call inside a transaction.

    The first answer wins: it resolves the request, appends
    ``human_loop.resolved``, wakes the run's owner to deliver it and settles
    the run's status. The same answer again returns the stored request with
    ``already_resolved=True`` and changes nothing. Errors: NOT_FOUND for an
    unknown request or one of another run or tenant; FAILED_PRECONDITION
    ``REQUEST_EXPIRED`` / ``REQUEST_CANCELED``; INVALID_ARGUMENT naming the
    field for an answer that does not fit the request; ALREADY_EXISTS
    ``REQUEST_ALREADY_RESOLVED`` with the stored answer for a different answer.
    Ids must have been validated by the caller.
    """
    answer = answer_of(request)
    record = await _find_for_reply(session, caller, request.run_id, request.question_id)
    _refuse_closed(record)
    details = details_from_json(record.details)
    check_answer(record.kind, details, answer)
    if record.status == RequestStatus.PENDING:
        run = await _lock_run(session, record.run_id)
        resolved = await _set_status(
            session,
            run,
            record.question_id,
            RequestStatus.RESOLVED,
            answer=to_json(answer),
            answer_request_id=request.request_id or None,
            resolved_by=caller.key_id or None,
        )
        if resolved is not None:
            event = _event(
                run,
                resolved.turn_id,
                human_loop_resolved=events_pb2.HumanLoopResolved(
                    question_id=resolved.question_id,
                    answer=redact(details, answer),
                    resolved_by=caller.key_id,
                ),
            )
            await append_events(session, resolved.run_id, [event])
            await commands.notify_owner(session, resolved.run_id)
            await settle_run_status(session, resolved.run_id, f"{resolved.question_id} answered")
            return resolved, False
        # Another reply (or expiry) got there first; under the run lock this read is current.
        record = await _find_for_reply(session, caller, request.run_id, request.question_id)
        _refuse_closed(record)
    if same_answer(record.answer, answer):
        return record, True
    stored = describe(redact(details, answer_from_json(record.answer or {})))
    raise errors.already_exists(
        "REQUEST_ALREADY_RESOLVED",
        f"human-loop request {record.question_id} was already answered with {stored}; the first answer wins",
        question_id=record.question_id,
        answer=stored,
        resolved_by=record.resolved_by or "",
    )


async def _find_for_reply(
    session: AsyncSession, caller: Caller, run_id: str, question_id: str
) -> HumanLoopRecord:
    row = await _select_request(session, question_id)
    if row is None or row.tenant_id != caller.tenant_id or row.run_id != run_id:
        raise errors.not_found("human_loop_request", question_id)
    return HumanLoopRecord.from_row(row)


def _refuse_closed(record: HumanLoopRecord) -> None:
    if record.status == RequestStatus.EXPIRED:
        raise errors.failed_precondition(
            "REQUEST_EXPIRED",
            f"human-loop request {record.question_id} expired unanswered; the agent was sent a decline",
            question_id=record.question_id,
        )
    if record.status == RequestStatus.CANCELED:
        raise errors.failed_precondition(
            "REQUEST_CANCELED",
            f"human-loop request {record.question_id} was canceled; nobody waits for its answer any more",
            question_id=record.question_id,
        )


# -- delivery to the agent -----------------------------------------------------------


async def pending_deliveries(session: AsyncSession, run_id: str) -> list[PendingDelivery]:
    """Answers (from people, or the declines of expiry) not yet delivered, oldest first.

    The run's driver sends each one as ``DeliverReply(question_id, answer)``
    and reports the executor's ``ActionResult`` to :func:`mark_delivered`.
    Re-sending after a lost stream is safe: the executor answers each
    question once and refuses the rest as already answered.
    """
    rows = await session.execute(
        select(Row.question_id, Row.answer)
        .where(
            Row.run_id == run_id,
            Row.status.in_(_ANSWERED),
            Row.delivered_at.is_(None),
            Row.answer.is_not(None),
        )
        .order_by(Row.resolved_at, Row.question_id)
    )
    return [PendingDelivery(question_id, answer_from_json(answer)) for question_id, answer in rows]


async def mark_delivered(
    session: AsyncSession, question_id: str, *, code: int = 0, message: str = ""
) -> bool:
    """Record the executor's result of delivering ``question_id``'s answer.

    ``code``/``message`` are the ``ActionResult``'s. Success, or "already
    answered" (a re-send), marks the answer delivered. Any other code also
    marks it (re-sending cannot help: the agent withdrew the request, or the
    session is ending) and appends a ``warning`` event
    (``HUMAN_LOOP_NOT_DELIVERED``) saying why the agent did not get it.
    Returns False when there was nothing to mark (unknown, not answered, or
    marked before).
    """
    run_id = await session.scalar(select(Row.run_id).where(Row.question_id == question_id))
    if run_id is None:
        return False
    run = await _lock_run(session, run_id)
    turn_id = (
        await session.execute(
            update(Row)
            .where(Row.question_id == question_id, Row.status.in_(_ANSWERED), Row.delivered_at.is_(None))
            .values(delivered_at=func.now())
            .returning(Row.turn_id)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if turn_id is None:
        return False
    if code not in _DELIVERED_CODES:
        warning = _event(run, turn_id[0])
        warning.warning.message = (
            f"the answer to {question_id} was not delivered to the agent: {message or code}"
        )
        warning.warning.reason = NOT_DELIVERED_REASON
        await append_events(session, run_id, [warning])
    return True


# -- expiry and cancellation ---------------------------------------------------------


async def expire_due(
    session: AsyncSession, now: datetime | None = None, *, limit: int = EXPIRE_BATCH
) -> list[HumanLoopRecord]:
    """Expire pending requests whose deadline is at or before ``now`` (the database's clock by default).

    Each gets the decline of :func:`~control_plane.human_loop.answers.expiry_answer`
    as its answer and a ``human_loop.expired`` event; each run's owner is woken
    to deliver the declines, and each run's status settled (the agent then
    continues as Codex decides). At most ``limit`` requests per call; returns
    them, grouped by run.
    """
    now = now or await _now(session)
    due = (
        await session.execute(
            select(Row.run_id, Row.question_id)
            .where(Row.status == RequestStatus.PENDING.value, Row.expires_at <= now)
            .order_by(Row.run_id, Row.question_id)
            .limit(limit)
        )
    ).all()
    by_run: dict[str, list[str]] = {}
    for run_id, question_id in due:
        by_run.setdefault(run_id, []).append(question_id)
    expired: list[HumanLoopRecord] = []
    for run_id, question_ids in by_run.items():  # run id order: two sweepers cannot deadlock
        expired += await _expire_run(session, run_id, question_ids, now)
    return expired


async def _expire_run(
    session: AsyncSession, run_id: str, question_ids: Sequence[str], now: datetime
) -> list[HumanLoopRecord]:
    run = await _lock_run(session, run_id)
    rows = (
        await session.execute(
            select(Row.question_id, Row.kind, Row.details).where(
                Row.question_id.in_(question_ids),
                Row.status == RequestStatus.PENDING.value,
                Row.expires_at <= now,
            )
        )
    ).all()
    expired: list[HumanLoopRecord] = []
    events: list[events_pb2.RunEvent] = []
    for question_id, kind, details in rows:
        answer = expiry_answer(RequestKind(kind), details_from_json(details))
        done = await _set_status(session, run, question_id, RequestStatus.EXPIRED, answer=to_json(answer))
        if done is None:
            continue
        expired.append(done)
        events.append(
            _event(
                run,
                done.turn_id,
                human_loop_expired=events_pb2.HumanLoopExpired(question_id=question_id, answer=answer),
            )
        )
    if events:
        await append_events(session, run_id, events)
        await commands.notify_owner(session, run_id)
        await settle_run_status(session, run_id, "human-loop requests expired unanswered")
    return expired


async def cancel_pending(session: AsyncSession, run_id: str, reason: str) -> list[HumanLoopRecord]:
    """Cancel every pending request of the run, each with a ``human_loop.canceled`` event.

    For StopRun and for the end of the run's session: call it *before* the
    run's final transition, so that a ``waiting_human`` run moves back to
    ``running`` here (``waiting_human`` → ``succeeded`` is not a lifecycle
    step). Nothing is delivered: the session is ending. Returns the canceled
    requests, oldest first.
    """
    run = await _lock_run(session, run_id)
    question_ids = (
        await session.scalars(
            select(Row.question_id)
            .where(Row.run_id == run_id, Row.status == RequestStatus.PENDING.value)
            .order_by(Row.created_at, Row.question_id)
        )
    ).all()
    canceled: list[HumanLoopRecord] = []
    for question_id in question_ids:
        done = await _set_status(session, run, question_id, RequestStatus.CANCELED)
        if done is not None:
            canceled.append(done)
    if canceled:
        await append_events(
            session,
            run_id,
            [
                _event(
                    run,
                    done.turn_id,
                    human_loop_canceled=events_pb2.HumanLoopCanceled(
                        question_id=done.question_id, reason=reason
                    ),
                )
                for done in canceled
            ],
        )
        await settle_run_status(session, run_id, f"human-loop requests canceled: {reason}")
    return canceled
