"""The reconciler: a pass every few seconds in every control plane, one acting at a time.

Each control plane runs a :class:`Reconciler`. Every ``interval`` seconds it
tries to take a transaction-level advisory lock; the process that gets it
runs one pass (:func:`.runs.reconcile_runs`) in that transaction, the others
skip their turn. So with any number of replicas the platform heals itself,
and never twice. ``ReconcileService.ReconcileRuns`` runs the same pass on
demand (waiting for the lock instead of skipping).

Each pass is logged (at info when it acted) and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import func, select

from common.db.engine import Database
from common.db.errors import is_unavailable
from control_plane.orchestration.instance import Instance
from control_plane.reconcile.runs import ReconcileAction, ReconcilePolicy, Release, reconcile_runs

log = logging.getLogger(__name__)

# The advisory lock passes take: (class, key), apart from the liveness locks'.
_LOCK: Final = (0x43435031, 0x5245434F)  # "CCP1", "RECO"


@dataclass
class PassReport:
    examined: int
    actions: list[ReconcileAction] = field(default_factory=list)


class Reconciler:
    def __init__(
        self,
        db: Database,
        instance: Instance,
        policy: ReconcilePolicy,
        *,
        release: Release | None = None,
        interval_s: float = 5.0,
        count: Callable[[str], None] | None = None,
    ) -> None:
        """``release`` gives a lease back to the executor-manager
        (``ExecutorManagerClient.release``); without it leases are left alone.
        ``count`` is told the kind of each action taken (the metrics)."""
        self._db = db
        self._instance = instance
        self.policy = policy
        self._release = release
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        # What this process did, since it started.
        self.passes = 0
        self.actions_total: Counter[str] = Counter()
        self._count = count

    def start(self) -> None:
        """Run a pass every ``interval_s`` seconds (never when it is not positive)."""
        if self._task is None and self._interval_s > 0:
            self._task = asyncio.create_task(self._run(), name="reconciler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def pass_once(
        self, policy: ReconcilePolicy | None = None, *, dry_run: bool = False, wait: bool = True
    ) -> PassReport | None:
        """One pass under the lock; None when ``wait`` is False and another
        process holds it (it is making this pass)."""
        async with self._db.session() as session, session.begin():
            if wait:
                await session.execute(select(func.pg_advisory_xact_lock(*_LOCK)))
            elif not await session.scalar(select(func.pg_try_advisory_xact_lock(*_LOCK))):
                return None
            examined, actions = await reconcile_runs(
                session, self._instance, policy or self.policy, dry_run=dry_run, release=self._release
            )
        if not dry_run:
            self.passes += 1
            self.actions_total.update(a.kind for a in actions)
            if self._count is not None:
                for action in actions:
                    self._count(action.kind)
        return PassReport(examined, actions)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                report = await self.pass_once(wait=False)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_unavailable(exc):
                    log.warning("reconcile pass: the database is unavailable; retrying")
                else:
                    log.exception("reconcile pass failed; retrying")
                continue
            if report is None:
                continue
            if report.actions:
                for action in report.actions:
                    log.warning(
                        "reconciled: %s %s (%s → %s): %s",
                        action.kind,
                        action.run_id,
                        action.previous.value,
                        action.status.value,
                        action.reason,
                        extra={
                            "kind": action.kind,
                            "run_id": action.run_id,
                            "previous": action.previous.value,
                            "status": action.status.value,
                            "reason": action.reason,
                        },
                    )
                log.info(
                    "reconcile pass", extra={"examined": report.examined, "actions": len(report.actions)}
                )
            else:
                log.debug("reconcile pass", extra={"examined": report.examined, "actions": 0})
