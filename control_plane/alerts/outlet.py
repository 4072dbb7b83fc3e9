"""The platform's alerts, pushed to Alertmanager (``CCPLANE_ALERTMANAGER_URL``).

Every ``interval_s`` the outlet posts, to Alertmanager's v2 API
(``POST /api/v2/alerts``), every open alert as firing, with an ``endsAt`` a
few intervals ahead (so alerts of a platform that stopped pushing resolve by
themselves, as Prometheus does), and every alert resolved in the last
:data:`RESOLVED_RESEND` with ``endsAt`` = when it was resolved. Alertmanager
de-duplicates by labels, so re-sending is harmless and several control
planes may push the same alerts; an Alertmanager that was down gets the
whole picture on the next pass.

Labels: ``alertname`` (from the kind: ``executor_lost`` and
``lost_expired`` are ``CcplaneRunExecutorLost``), ``severity``, ``tenant``, ``kind``,
``alert_id`` and ``service="ccplane"``; the run id, the message and the
details are annotations, so they never split or merge alert groups.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
from sqlalchemy import func, select

from common.db import models
from common.db.engine import Database
from control_plane.alerts import store

log = logging.getLogger(__name__)

RESOLVED_RESEND: Final = timedelta(minutes=10)
_MAX_OPEN: Final = 1000
# Firing alerts stay firing in Alertmanager this many intervals after the last push.
_LIFETIME_INTERVALS: Final = 4
ALERT_NAMES: Final = {
    "executor_lost": "CcplaneRunExecutorLost",
    "lost_expired": "CcplaneRunExecutorLost",
    "orphaned": "CcplaneRunOrphaned",
    "start_timeout": "CcplaneRunStartTimeout",
    "queued_too_long": "CcplaneRunQueuedTooLong",
}


def alert_name(kind: str) -> str:
    return ALERT_NAMES.get(kind) or "CcplaneRun" + "".join(p.capitalize() for p in kind.split("_"))


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def to_alertmanager(alert: models.ReconcileAlert, ends_at: datetime) -> dict[str, Any]:
    labels = {
        "alertname": alert_name(alert.kind),
        "severity": alert.severity,
        "kind": alert.kind,
        "alert_id": str(alert.id),
        "service": "ccplane",
    }
    if alert.tenant_id:
        labels["tenant"] = alert.tenant_id
    annotations = {"summary": alert.message, "description": alert.message}
    if alert.run_id:
        annotations["run_id"] = alert.run_id
    if alert.acknowledged_by:
        annotations["acknowledged_by"] = alert.acknowledged_by
    return {
        "labels": labels,
        "annotations": annotations,
        "startsAt": _iso(alert.created_at),
        "endsAt": _iso(ends_at),
    }


class AlertmanagerOutlet:
    """Pushes this platform's alerts to one Alertmanager."""

    def __init__(
        self,
        db: Database,
        url: str,
        *,
        interval_s: float = 5.0,
        timeout_s: float = 5.0,
        on_push: Callable[[str], None] | None = None,
    ) -> None:
        """``on_push(result)`` is told each push's outcome (``ok`` or ``error``)."""
        self._db = db
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self._interval_s = interval_s
        self._client = httpx.AsyncClient(timeout=timeout_s)
        self._task: asyncio.Task[None] | None = None
        self._on_push = on_push
        self._failing = False
        self._wake = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="alertmanager-outlet")

    def wake(self) -> None:
        """Push now rather than at the next interval."""
        self._wake.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._client.aclose()

    async def push_once(self) -> int:
        """Post the open alerts and the recently resolved ones; how many were sent."""
        async with self._db.session() as session:
            now = await session.scalar(select(func.now()))
            assert now is not None
            firing = await store.open_alerts(session, _MAX_OPEN)
            resolved = await store.resolved_since(session, now - RESOLVED_RESEND)
        ends = now + timedelta(seconds=self._interval_s * _LIFETIME_INTERVALS)
        payload = [to_alertmanager(a, ends) for a in firing]
        payload += [to_alertmanager(a, a.resolved_at) for a in resolved if a.resolved_at is not None]
        if not payload:
            return 0
        response = await self._client.post(self.url, json=payload)
        response.raise_for_status()
        return len(payload)

    async def _run(self) -> None:
        while True:
            try:
                sent = await self.push_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._report("error")
                if not self._failing:
                    log.warning(
                        "cannot push alerts to Alertmanager; retrying every %.0fs",
                        self._interval_s,
                        extra={"url": self.url, "error": repr(exc)},
                    )
                self._failing = True
            else:
                if sent:
                    self._report("ok")
                if self._failing:
                    log.info("pushing alerts to Alertmanager again", extra={"url": self.url})
                self._failing = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
            self._wake.clear()

    def _report(self, result: str) -> None:
        if self._on_push is not None:
            self._on_push(result)
