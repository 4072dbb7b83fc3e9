"""Reconciliation of runs that lost their executor or stopped progressing.

- ``lost`` runs (their executor vanished) become ``failed`` once they have
  been lost for ``stale_after``; their pending human-loop requests are
  canceled.
- Live runs (starting, running, waiting_human) whose record has not changed
  for ``stale_after`` and whose owning control plane is gone are marked
  ``lost`` (a live control plane adopts such runs within a second, so these
  are runs nobody can drive).

Every change is a state-machine transition and is reported as a
``reconcile_alerts`` row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import models
from control_plane.human_loop import store as human_loop
from control_plane.orchestration.instance import Instance
from control_plane.runs.state_machine import RunStatus, transition

DEFAULT_STALE_AFTER = timedelta(minutes=10)
_LIVE = ("starting", "running", "waiting_human")


@dataclass(frozen=True)
class ReconcileAction:
    run_id: str
    previous: RunStatus
    status: RunStatus
    reason: str


async def reconcile_runs(
    session: AsyncSession, instance: Instance, *, stale_after: timedelta, dry_run: bool
) -> tuple[int, list[ReconcileAction]]:
    """Returns (runs examined, actions taken or proposed)."""
    cutoff = func.now() - stale_after
    candidates = (
        await session.execute(
            select(models.AgentRun.id, models.AgentRun.status, models.AgentRun.owner_id).where(
                models.AgentRun.status.in_(["lost", *_LIVE]), models.AgentRun.updated_at < cutoff
            )
        )
    ).all()
    actions: list[ReconcileAction] = []
    alive: dict[str, bool] = {}
    for run_id, status, owner in candidates:
        current = RunStatus(status)
        if current == RunStatus.LOST:
            action = ReconcileAction(run_id, current, RunStatus.FAILED, "lost executor was not recovered")
        else:
            if owner:
                if owner not in alive:
                    alive[owner] = await instance.is_alive(owner)
                if alive[owner]:
                    continue
            action = ReconcileAction(run_id, current, RunStatus.LOST, "no control plane drives this run")
        actions.append(action)
        if dry_run:
            continue
        if action.status == RunStatus.FAILED:
            await human_loop.cancel_pending(session, run_id, "the run was reconciled as failed")
        result = await transition(
            session,
            run_id,
            action.status,
            f"reconciled: {action.reason}",
            error=action.reason,
            error_reason="RECONCILED_EXECUTOR_LOST"
            if action.status == RunStatus.FAILED
            else "RECONCILED_ORPHANED",
        )
        if result.accepted:
            session.add(
                models.ReconcileAlert(
                    kind="run_reconciled",
                    severity="warning",
                    run_id=run_id,
                    message=f"{run_id}: {action.previous} -> {action.status}: {action.reason}",
                    details={"previous": action.previous.value, "status": action.status.value},
                )
            )
    return len(candidates), actions
