"""The run lifecycle: which status changes are allowed, and the one way to make them.

``queued → starting → running ⇄ waiting_human → succeeded | failed | canceled``,
plus ``lost`` while an executor has vanished. A finished run goes back to
``queued`` when a follow-up message continues its thread; it never jumps
straight back to ``running``.

:func:`transition` is the only code that writes ``agent_runs.status`` (a new
run is inserted as ``queued``). It locks the run row, checks
:data:`ALLOWED_TRANSITIONS`, updates the row and appends the
``run.status_changed`` event that reports the change, all in the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, TypedDict, Unpack, cast

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ccplane.v1 import common_pb2, events_pb2
from common import errors
from common.db.models import AgentRun
from control_plane.events.log import append_events

STATUS_CHANGED: Final = "run.status_changed"


class RunStatus(StrEnum):
    """A run's status, with the values stored in ``agent_runs.status``."""

    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    WAITING_HUMAN = "waiting_human"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    LOST = "lost"


TERMINAL: Final = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED})

# Statuses in which a run has no problem to report: entering one clears
# ``error``/``error_reason`` unless a new error is given.
_HEALTHY: Final = frozenset(
    {RunStatus.QUEUED, RunStatus.STARTING, RunStatus.RUNNING, RunStatus.WAITING_HUMAN}
)

ALLOWED_TRANSITIONS: Final[Mapping[RunStatus, frozenset[RunStatus]]] = MappingProxyType(
    {
        RunStatus.QUEUED: frozenset({RunStatus.STARTING, RunStatus.CANCELED, RunStatus.FAILED}),
        # Back to queued when the executor could not start the session.
        RunStatus.STARTING: frozenset(
            {
                RunStatus.RUNNING,
                RunStatus.FAILED,
                RunStatus.CANCELED,
                RunStatus.LOST,
                RunStatus.QUEUED,
            }
        ),
        RunStatus.RUNNING: frozenset(
            {
                RunStatus.WAITING_HUMAN,
                RunStatus.SUCCEEDED,
                RunStatus.FAILED,
                RunStatus.CANCELED,
                RunStatus.LOST,
            }
        ),
        RunStatus.WAITING_HUMAN: frozenset(
            {RunStatus.RUNNING, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.LOST}
        ),
        # Reconciliation either re-attaches to the live session or settles the run.
        RunStatus.LOST: frozenset({RunStatus.RUNNING, RunStatus.FAILED, RunStatus.CANCELED}),
        # A follow-up message on a finished run's thread queues it again.
        RunStatus.SUCCEEDED: frozenset({RunStatus.QUEUED}),
        RunStatus.FAILED: frozenset({RunStatus.QUEUED}),
        RunStatus.CANCELED: frozenset({RunStatus.QUEUED}),
    }
)


def is_allowed(current: RunStatus, proposed: RunStatus) -> bool:
    """True when a run in ``current`` may move to ``proposed``."""
    return proposed in ALLOWED_TRANSITIONS[current]


class RunChanges(TypedDict, total=False):
    """Run fields that may be written together with a status change.

    ``None`` clears a field.
    """

    thread_id: str | None
    executor_id: str | None
    lease_id: str | None
    owner_id: str | None
    executor_address: str | None
    # Reset to 0 when a new session starts (executor seqs count per session).
    executor_seq: int
    workspace_version: int | None


@dataclass(frozen=True, slots=True)
class TransitionResult:
    """What :func:`transition` did.

    ``status`` is the run's status afterwards: ``proposed`` when accepted,
    unchanged when rejected. ``reason`` is the caller's reason when accepted
    and why the change was refused when rejected. ``seq`` is the seq of the
    ``run.status_changed`` event, ``None`` when rejected.
    """

    accepted: bool
    run_id: str
    previous: RunStatus
    status: RunStatus
    reason: str
    seq: int | None = None


async def transition(
    session: AsyncSession,
    run_id: str,
    proposed: RunStatus,
    reason: str,
    *,
    error: str | None = None,
    error_reason: str | None = None,
    trace_id: str | None = None,
    **changes: Unpack[RunChanges],
) -> TransitionResult:
    """Move run ``run_id`` to ``proposed`` if the lifecycle allows it.

    Call inside a transaction; the caller commits (or rolls back), so other
    writes that belong to the same change land atomically with it. The run
    row stays locked until then. A rejected change writes nothing.

    Besides ``status`` this sets ``started_at`` on the first entry into
    ``running``; ``finished_at`` on entering a terminal status and clears it
    on re-queueing; ``error``/``error_reason`` when given, clearing them on
    entering a healthy status otherwise; on entering ``queued`` it clears
    ``executor_id``, ``executor_address``, ``lease_id`` and ``owner_id`` (the
    run waits for a new executor) unless ``changes`` sets them. The event carries ``trace_id``,
    by default the run's own.

    Raises a NOT_FOUND :class:`common.errors.ServiceError` for an unknown run.
    """
    locked = await session.execute(
        select(AgentRun.status, AgentRun.trace_id).where(AgentRun.id == run_id).with_for_update()
    )
    row = locked.one_or_none()
    if row is None:
        raise errors.not_found("run", run_id)
    current = RunStatus(row.status)
    if current == proposed:
        return TransitionResult(False, run_id, current, current, f"run is already {current}")
    if not is_allowed(current, proposed):
        return TransitionResult(False, run_id, current, current, f"{current} → {proposed} is not allowed")

    values = _values_for(proposed, error, error_reason, changes)
    await session.execute(
        update(AgentRun)
        .where(AgentRun.id == run_id)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    event = events_pb2.RunEvent(
        type=STATUS_CHANGED,
        trace_id=row.trace_id if trace_id is None else trace_id,
        status_changed=events_pb2.RunStatusChanged(
            previous_status=status_to_proto(current),
            status=status_to_proto(proposed),
            reason=reason,
            error=error or "",
            error_reason=error_reason or "",
        ),
    )
    (seq,) = await append_events(session, run_id, [event])
    return TransitionResult(True, run_id, current, proposed, reason, seq)


def _values_for(
    proposed: RunStatus, error: str | None, error_reason: str | None, changes: RunChanges
) -> dict[str, Any]:
    values: dict[str, Any] = {"status": proposed.value}
    if proposed == RunStatus.RUNNING:
        values["started_at"] = func.coalesce(AgentRun.started_at, func.now())
    if proposed in TERMINAL:
        values["finished_at"] = func.now()
    if proposed == RunStatus.QUEUED:
        values.update(finished_at=None, executor_id=None, lease_id=None, owner_id=None, executor_address=None)
    if error is not None or error_reason is not None:
        values.update(error=error, error_reason=error_reason)
    elif proposed in _HEALTHY:
        values.update(error=None, error_reason=None)
    values.update(changes)
    return values


# --- protobuf conversions ----------------------------------------------------

_PROTO_PREFIX: Final = "RUN_STATUS_"


_TO_PROTO: Final[Mapping[RunStatus, common_pb2.RunStatus]] = {
    # The stubs type EnumTypeWrapper.Value as int; these are the enum's values.
    status: cast(common_pb2.RunStatus, common_pb2.RunStatus.Value(_PROTO_PREFIX + status.name))
    for status in RunStatus
}


def status_to_proto(status: RunStatus) -> common_pb2.RunStatus:
    """``RunStatus.WAITING_HUMAN`` → ``RUN_STATUS_WAITING_HUMAN``."""
    return _TO_PROTO[status]


def status_from_proto(value: int) -> RunStatus:
    """``RUN_STATUS_QUEUED`` → ``RunStatus.QUEUED``; ``ValueError`` for unspecified or unknown."""
    if value == common_pb2.RUN_STATUS_UNSPECIFIED:
        raise ValueError("run status is unspecified")
    try:
        name = common_pb2.RunStatus.Name(value)
    except ValueError:
        raise ValueError(f"unknown run status {value}") from None
    return RunStatus(name.removeprefix(_PROTO_PREFIX).lower())
