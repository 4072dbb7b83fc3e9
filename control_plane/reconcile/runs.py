"""One reconciliation pass: settle every run that nothing else will settle.

A pass looks at the runs no driver can be counted on for, and at leases
nobody gave back:

- ``lost`` runs (their executor vanished) fail with ``EXECUTOR_LOST`` once
  they have been lost for the grace period; a run whose executor comes back
  within it heals on its own (its driver re-attaches);
- live runs (starting, running, waiting_human) whose owning control plane is
  gone and that no live one adopted within ``orphan_after`` become ``lost``
  (and fail after the grace period like any lost run);
- runs ``starting`` for longer than ``start_timeout`` fail with
  ``START_TIMEOUT``;
- runs queued for longer than ``queued_alert_after`` while no ready executor
  has a free slot raise an alert (once per run), and stay queued;
- open leases of runs that already ended are released.

Every failure cancels the run's pending human-loop requests and records an
alert. The caller owns the transaction and serialises passes
(:mod:`.loop`); lease releases go to the executor-manager through
``release`` while the runs' rows are locked, so a run that is re-queued
meanwhile never loses the lease it is given.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import models
from common.settings import Settings
from control_plane.alerts import store as alerts
from control_plane.orchestration.instance import Instance
from control_plane.reconcile import settle
from control_plane.runs.state_machine import TERMINAL, RunStatus, transition

_LIVE: Final = (RunStatus.STARTING.value, RunStatus.RUNNING.value, RunStatus.WAITING_HUMAN.value)

# Action kinds (ReconcileAction.kind, log fields, alert kinds).
LOST_EXPIRED: Final = "lost_expired"
ORPHANED: Final = "orphaned"
START_TIMED_OUT: Final = "start_timeout"
QUEUED_TOO_LONG: Final = "queued_too_long"
STALE_LEASE: Final = "stale_lease"
ACTION_KINDS: Final = (LOST_EXPIRED, ORPHANED, START_TIMED_OUT, QUEUED_TOO_LONG, STALE_LEASE)

Release = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class ReconcilePolicy:
    """How long each kind of trouble may last before a pass acts on it."""

    lost_grace: timedelta
    orphan_after: timedelta
    start_timeout: timedelta
    queued_alert_after: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> ReconcilePolicy:
        return cls(
            lost_grace=timedelta(seconds=settings.lost_grace),
            orphan_after=timedelta(seconds=settings.orphan_after),
            start_timeout=timedelta(seconds=settings.start_timeout),
            queued_alert_after=timedelta(seconds=settings.queued_alert_after),
        )

    def with_stale_after(self, stale_after: timedelta) -> ReconcilePolicy:
        """One threshold for every kind of stuck run (``ReconcileRuns.stale_after``)."""
        return ReconcilePolicy(stale_after, stale_after, stale_after, self.queued_alert_after)


@dataclass(frozen=True)
class ReconcileAction:
    kind: str
    run_id: str
    previous: RunStatus
    status: RunStatus
    reason: str
    lease_id: str = ""


async def reconcile_runs(
    session: AsyncSession,
    instance: Instance,
    policy: ReconcilePolicy,
    *,
    dry_run: bool,
    release: Release | None = None,
) -> tuple[int, list[ReconcileAction]]:
    """Returns (runs examined, actions taken, or proposed when ``dry_run``).

    Without ``release`` (no executor-manager) leases are left alone."""
    actions: list[ReconcileAction] = []
    examined = 0
    for check in (_stuck_starting, _lost, _orphaned, _queued_too_long):
        seen, found = await check(session, instance, policy, dry_run)
        examined += seen
        actions += found
    if release is not None:
        actions += await _release_leases(session, actions, dry_run, release)
    if not dry_run:
        await alerts.resolve_cleared(session)
    return examined, actions


async def _candidates(
    session: AsyncSession, statuses: tuple[str, ...], older_than: timedelta
) -> list[models.AgentRun]:
    rows = await session.scalars(
        select(models.AgentRun)
        .where(models.AgentRun.status.in_(statuses), models.AgentRun.updated_at < func.now() - older_than)
        .order_by(models.AgentRun.id)
    )
    return list(rows.all())


async def _lost(
    session: AsyncSession, instance: Instance, policy: ReconcilePolicy, dry_run: bool
) -> tuple[int, list[ReconcileAction]]:
    runs = await _candidates(session, (RunStatus.LOST.value,), policy.lost_grace)
    actions = []
    for run in runs:
        message = f"its executor did not come back within {_seconds(policy.lost_grace)}"
        if run.error:
            message = f"{run.error}; {message}"
        action = ReconcileAction(
            LOST_EXPIRED, run.id, RunStatus.LOST, RunStatus.FAILED, message, run.lease_id or ""
        )
        if dry_run or await _fail(session, action, settle.EXECUTOR_LOST, executor_id=run.executor_id):
            actions.append(action)
    return len(runs), actions


async def _orphaned(
    session: AsyncSession, instance: Instance, policy: ReconcilePolicy, dry_run: bool
) -> tuple[int, list[ReconcileAction]]:
    runs = await _candidates(session, _LIVE, policy.orphan_after)
    alive: dict[str, bool] = {}
    actions = []
    for run in runs:
        owner = run.owner_id
        if owner:
            if owner not in alive:
                alive[owner] = await instance.is_alive(owner)
            if alive[owner]:
                continue
        action = ReconcileAction(
            ORPHANED, run.id, RunStatus(run.status), RunStatus.LOST, "no control plane drives this run"
        )
        if not dry_run:
            result = await transition(
                session,
                run.id,
                RunStatus.LOST,
                f"reconciled: {action.reason}",
                error=action.reason,
                error_reason="ORPHANED",
            )
            if not result.accepted:
                continue
            alerts.record(
                session,
                ORPHANED,
                run_id=run.id,
                message=f"{run.id}: {action.previous} -> lost: {action.reason}",
                details={"previous": action.previous.value, "owner_id": owner or ""},
            )
        actions.append(action)
    return len(runs), actions


async def _stuck_starting(
    session: AsyncSession, instance: Instance, policy: ReconcilePolicy, dry_run: bool
) -> tuple[int, list[ReconcileAction]]:
    runs = await _candidates(session, (RunStatus.STARTING.value,), policy.start_timeout)
    actions = []
    for run in runs:
        action = ReconcileAction(
            START_TIMED_OUT,
            run.id,
            RunStatus.STARTING,
            RunStatus.FAILED,
            f"its session did not start within {_seconds(policy.start_timeout)}",
            run.lease_id or "",
        )
        if dry_run or await _fail(session, action, settle.START_TIMEOUT, executor_id=run.executor_id):
            actions.append(action)
    return len(runs), actions


async def _queued_too_long(
    session: AsyncSession, instance: Instance, policy: ReconcilePolicy, dry_run: bool
) -> tuple[int, list[ReconcileAction]]:
    runs = await _candidates(session, (RunStatus.QUEUED.value,), policy.queued_alert_after)
    if not runs or await _free_slots(session) > 0:
        return len(runs), []
    actions = []
    for run in runs:
        if await alerts.has_open(session, QUEUED_TOO_LONG, run.id):
            continue
        reason = f"queued for more than {_seconds(policy.queued_alert_after)} with no free executor slot"
        action = ReconcileAction(QUEUED_TOO_LONG, run.id, RunStatus.QUEUED, RunStatus.QUEUED, reason)
        if not dry_run:
            alerts.record(session, QUEUED_TOO_LONG, run_id=run.id, message=f"{run.id}: {reason}", details={})
        actions.append(action)
    return len(runs), actions


async def _release_leases(
    session: AsyncSession, failed: list[ReconcileAction], dry_run: bool, release: Release
) -> list[ReconcileAction]:
    """Release the leases of runs failed in this pass and every open lease
    held for a run that already ended (locking those runs, so that none is
    re-queued meanwhile and handed the lease being released)."""
    lease_ids = [a.lease_id for a in failed if a.lease_id and a.status == RunStatus.FAILED]
    rows = (
        await session.execute(
            select(models.ExecutorLease.id, models.AgentRun.id, models.AgentRun.status)
            .join(models.AgentRun, models.AgentRun.id == models.ExecutorLease.run_id)
            .where(
                models.ExecutorLease.released_at.is_(None),
                models.AgentRun.status.in_([s.value for s in TERMINAL]),
            )
            .order_by(models.ExecutorLease.id)
            .with_for_update(of=models.AgentRun, skip_locked=True)
        )
    ).all()
    actions = []
    for lease_id, run_id, status in rows:
        if lease_id in lease_ids:
            continue
        ended = RunStatus(status)
        actions.append(
            ReconcileAction(
                STALE_LEASE, run_id, ended, ended, f"the run is {ended} but its lease was open", lease_id
            )
        )
    if not dry_run:
        for lease_id in lease_ids + [a.lease_id for a in actions]:
            await release(lease_id)
    return actions


async def _fail(
    session: AsyncSession, action: ReconcileAction, reason: str, *, executor_id: str | None
) -> bool:
    result = await settle.fail_run(
        session,
        action.run_id,
        message=action.reason,
        reason=reason,
        why=f"reconciled: {action.reason}",
        alert=action.kind,
        # Work was lost: someone should look now.
        severity="critical" if action.kind == LOST_EXPIRED else "warning",
        details={"executor_id": executor_id or ""},
    )
    return result.accepted


async def _free_slots(session: AsyncSession) -> int:
    """Free slots on ready executors (their own count, or their open leases if more)."""
    leases = (
        select(func.count())
        .where(
            models.ExecutorLease.executor_id == models.Executor.id,
            models.ExecutorLease.released_at.is_(None),
        )
        .scalar_subquery()
    )
    used = func.greatest(models.Executor.slots_used, leases)
    total = await session.scalar(
        select(func.coalesce(func.sum(func.greatest(models.Executor.slots_total - used, 0)), 0)).where(
            models.Executor.state == "ready"
        )
    )
    return int(total or 0)


def _seconds(duration: timedelta) -> str:
    return f"{duration.total_seconds():g} s"
