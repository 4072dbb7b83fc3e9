"""Ending a run that cannot go on, the same way wherever that is decided.

A run's driver (its session failed to start, the executor restarted without
it) and the reconciler (its executor stayed lost past the grace period, it
never left ``starting``) both end runs here: pending human-loop requests
are canceled, the run fails with a reason, its undelivered commands are
closed and, where someone should hear of it, an alert is recorded. All in
the caller's transaction.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.alerts import store as alerts
from control_plane.human_loop import store as human_loop
from control_plane.orchestration import commands
from control_plane.runs.state_machine import RunStatus, TransitionResult, transition

# Error reasons of runs ended here.
EXECUTOR_LOST: Final = "EXECUTOR_LOST"
START_TIMEOUT: Final = "START_TIMEOUT"


async def fail_run(
    session: AsyncSession,
    run_id: str,
    *,
    message: str,
    reason: str,
    why: str,
    alert: str = "",
    severity: str = "warning",
    details: dict[str, Any] | None = None,
) -> TransitionResult:
    """Fail ``run_id`` with ``message``/``reason``; ``why`` is the status
    change's reason. With ``alert`` (its kind), an alert of ``severity``
    records it.

    Rejected (nothing written) when the run already ended or cannot fail
    from its status."""
    await human_loop.cancel_pending(session, run_id, message)
    result = await transition(session, run_id, RunStatus.FAILED, why, error=message, error_reason=reason)
    if not result.accepted:
        return result
    await commands.mark_all_delivered(session, run_id, f"the run failed: {message}")
    # Wake the run's driver, wherever it is: the run is over.
    await commands.notify_owner(session, run_id)
    if alert:
        alerts.record(
            session,
            alert,
            run_id=run_id,
            severity=severity,
            message=f"{run_id}: {result.previous} -> failed ({reason}): {message}",
            details={
                "previous": result.previous.value,
                "status": "failed",
                "reason": reason,
                **(details or {}),
            },
        )
    return result
