"""Acting on runs: stop, send a message, interrupt.

An action on a live run becomes a stored command that the run's owner
delivers (see :mod:`control_plane.orchestration.commands`); an action that
only changes state (stopping a queued run, re-queueing a finished one for a
follow-up) is a state-machine transition. Either way it is one transaction.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccplane.v1 import runs_pb2
from common.db import models
from common.errors import failed_precondition, not_found
from control_plane.auth import Caller
from control_plane.human_loop import store as human_loop
from control_plane.limits import check_run_quota
from control_plane.orchestration import commands
from control_plane.runs.state_machine import TERMINAL, RunStatus, transition
from control_plane.runs.validation import settings_from_json

_LIVE = {RunStatus.STARTING, RunStatus.RUNNING, RunStatus.WAITING_HUMAN}


async def _lock_run(session: AsyncSession, caller: Caller, run_id: str) -> models.AgentRun:
    row = (
        await session.execute(
            select(models.AgentRun)
            .where(models.AgentRun.id == run_id, models.AgentRun.tenant_id == caller.tenant_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if row is None:
        raise not_found("run", run_id)
    return row


async def stop_run(session: AsyncSession, caller: Caller, run_id: str, reason: str) -> None:
    """Cancel a queued run now; ask the owner of a live one to stop it."""
    row = await _lock_run(session, caller, run_id)
    status = RunStatus(row.status)
    why = reason or "stopped by request"
    if status == RunStatus.QUEUED:
        await transition(session, run_id, RunStatus.CANCELED, why)
        await commands.mark_all_delivered(session, run_id, "the run was stopped")
    elif status in _LIVE:
        # Answers arriving from now on are refused (REQUEST_CANCELED).
        await human_loop.cancel_pending(session, run_id, why)
        await commands.enqueue(session, run_id, "stop", why)
    elif status == RunStatus.LOST:
        await human_loop.cancel_pending(session, run_id, why)
        await transition(session, run_id, RunStatus.CANCELED, why)
        await commands.mark_all_delivered(session, run_id, "the run was stopped")
        await commands.notify_owner(session, run_id)  # its driver stops re-attaching
    elif status == RunStatus.CANCELED:
        return
    else:
        raise failed_precondition(
            "RUN_ALREADY_FINISHED",
            f"run {run_id} already finished ({status}); there is nothing to stop",
            run_id=run_id,
        )


async def send_message(
    session: AsyncSession, caller: Caller, run_id: str, text: str, request_id: str
) -> runs_pb2.MessageDelivery:
    """Steer a live run, or continue a finished persistent-thread run."""
    row = await _lock_run(session, caller, run_id)
    status = RunStatus(row.status)
    if status in _LIVE:
        await commands.enqueue(session, run_id, "inject", text, request_id)
        return runs_pb2.MESSAGE_DELIVERY_STEER
    if status == RunStatus.QUEUED:
        raise failed_precondition("RUN_NOT_STARTED", f"run {run_id} has not started yet; wait for it to run")
    if status == RunStatus.LOST:
        raise failed_precondition(
            "RUN_LOST",
            f"run {run_id} lost its executor: it heals if the executor comes back, or fails "
            "(EXECUTOR_LOST) after the grace period; send the message then",
        )
    assert status in TERMINAL
    if settings_from_json(row.settings).thread_mode == runs_pb2.THREAD_MODE_STATELESS:
        raise failed_precondition(
            "STATELESS_THREAD",
            f"run {run_id} uses a stateless thread: start a new run instead",
            run_id=run_id,
        )
    if not row.thread_id:
        raise failed_precondition("NO_THREAD", f"run {run_id} never started an agent thread to continue")
    await check_run_quota(session, caller.tenant_id, caller.limits)
    await commands.enqueue(session, run_id, "inject", text, request_id)
    await transition(session, run_id, RunStatus.QUEUED, "follow-up message")
    await commands.notify_queued(session)
    return runs_pb2.MESSAGE_DELIVERY_FOLLOW_UP


async def interrupt_run(session: AsyncSession, caller: Caller, run_id: str, reason: str) -> None:
    row = await _lock_run(session, caller, run_id)
    if RunStatus(row.status) not in _LIVE:
        raise failed_precondition("RUN_NOT_LIVE", f"run {run_id} is {row.status}: no turn to interrupt")
    await commands.enqueue(session, run_id, "interrupt", reason or "interrupted by request")
