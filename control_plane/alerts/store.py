"""The platform's own alerts: recorded, listed, acknowledged, resolved.

An alert is a ``reconcile_alerts`` row about a run (and its tenant). It is
*open* until its condition clears by itself (:func:`resolve_cleared`: a
queued run started, a lost run healed) or someone acknowledges it. Alerts
about something that happened and cannot clear (a run failed because its
executor was lost) stay open until acknowledged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from google.protobuf import json_format, struct_pb2
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ccplane.v1 import reconcile_pb2
from common import paging
from common.db import models
from common.errors import failed_precondition, invalid_argument, not_found
from control_plane.runs.convert import timestamp

OPEN: Final = "open"
ACKNOWLEDGED: Final = "acknowledged"
RESOLVED: Final = "resolved"
SEVERITIES: Final = ("warning", "critical")

# Alerts whose condition can clear, and the run statuses in which it holds.
CLEARS_WHEN_RUN_LEAVES: Final = {"queued_too_long": ("queued",), "orphaned": ("lost",)}

_Alert = models.ReconcileAlert
_STATE_OF = {
    reconcile_pb2.ALERT_STATE_OPEN: OPEN,
    reconcile_pb2.ALERT_STATE_ACKNOWLEDGED: ACKNOWLEDGED,
    reconcile_pb2.ALERT_STATE_RESOLVED: RESOLVED,
}
_PROTO_STATE = {v: k for k, v in _STATE_OF.items()}


def record(
    session: AsyncSession,
    kind: str,
    *,
    message: str,
    run_id: str | None = None,
    severity: str = "warning",
    details: dict[str, Any] | None = None,
) -> None:
    """Record an alert (in the caller's transaction) under its run's tenant."""
    tenant = (
        select(models.AgentRun.tenant_id).where(models.AgentRun.id == run_id).scalar_subquery()
        if run_id
        else None
    )
    session.add(
        _Alert(
            kind=kind,
            severity=severity,
            run_id=run_id,
            tenant_id=tenant,
            message=message,
            details=details or {},
        )
    )


async def has_open(session: AsyncSession, kind: str, run_id: str) -> bool:
    found = await session.scalar(
        select(_Alert.id)
        .where(_Alert.kind == kind, _Alert.run_id == run_id, _Alert.resolved_at.is_(None))
        .limit(1)
    )
    return found is not None


async def resolve_cleared(session: AsyncSession) -> int:
    """Resolve open alerts whose condition no longer holds; how many."""
    resolved = 0
    for kind, statuses in CLEARS_WHEN_RUN_LEAVES.items():
        still = exists().where(models.AgentRun.id == _Alert.run_id, models.AgentRun.status.in_(statuses))
        result = await session.execute(
            update(_Alert)
            .where(_Alert.kind == kind, _Alert.resolved_at.is_(None), ~still)
            .values(resolved_at=func.now())
            .execution_options(synchronize_session=False)
        )
        resolved += int(getattr(result, "rowcount", 0) or 0)
    return resolved


def state_of(alert: _Alert) -> str:
    if alert.resolved_at is None:
        return OPEN
    return ACKNOWLEDGED if alert.acknowledged_at is not None else RESOLVED


@dataclass(frozen=True)
class AlertFilter:
    states: tuple[str, ...] = ()
    kind: str = ""
    severity: str = ""
    run_id: str = ""
    tenant: str = ""

    @classmethod
    def from_request(cls, request: reconcile_pb2.ListAlertsRequest) -> AlertFilter:
        states = []
        for value in request.state:
            if value not in _STATE_OF:
                raise invalid_argument("state", f"unknown alert state {value}")
            states.append(_STATE_OF[value])
        if request.severity and request.severity not in SEVERITIES:
            raise invalid_argument("severity", f"must be one of {', '.join(SEVERITIES)}")
        return cls(tuple(sorted(set(states))), request.kind, request.severity, request.run_id, request.tenant)

    def where(self) -> list[Any]:
        clauses: list[Any] = []
        if self.states:
            by_state = {
                OPEN: _Alert.resolved_at.is_(None),
                ACKNOWLEDGED: _Alert.acknowledged_at.is_not(None),
                RESOLVED: and_(_Alert.resolved_at.is_not(None), _Alert.acknowledged_at.is_(None)),
            }
            clauses.append(or_(*(by_state[s] for s in self.states)))
        if self.kind:
            clauses.append(_Alert.kind == self.kind)
        if self.severity:
            clauses.append(_Alert.severity == self.severity)
        if self.run_id:
            clauses.append(_Alert.run_id == self.run_id)
        if self.tenant:
            clauses.append(_Alert.tenant_id == self.tenant)
        return clauses

    def fingerprint(self) -> list[Any]:
        return [list(self.states), self.kind, self.severity, self.run_id, self.tenant]


async def list_alerts(
    session: AsyncSession, flt: AlertFilter, *, page_size: int, page_token: str
) -> tuple[list[_Alert], str]:
    """Alerts matching ``flt``, newest first; and the next page's token ("" at the end)."""
    cursor = paging.decode_token(page_token, flt.fingerprint(), key_length=1)
    stmt = select(_Alert).where(*flt.where())
    if cursor is not None:
        stmt = stmt.where(_Alert.id < int(cursor.key[0]))
    rows = list((await session.scalars(stmt.order_by(_Alert.id.desc()).limit(page_size + 1))).all())
    token = ""
    if len(rows) > page_size:
        rows = rows[:page_size]
        token = paging.encode_token([rows[-1].id], flt.fingerprint())
    return rows, token


async def acknowledge(session: AsyncSession, alert_id: int, by: str) -> _Alert:
    """Acknowledge an open alert (which resolves it). Idempotent for an
    alert already acknowledged; FAILED_PRECONDITION for one resolved by itself."""
    if alert_id <= 0:
        raise invalid_argument("alert_id", "must be a positive alert id")
    alert = await session.scalar(select(_Alert).where(_Alert.id == alert_id).with_for_update())
    if alert is None:
        raise not_found("alert", str(alert_id))
    if alert.acknowledged_at is not None:
        return alert
    if alert.resolved_at is not None:
        raise failed_precondition(
            "ALERT_RESOLVED",
            f"alert {alert_id} was resolved when its condition cleared; nothing to acknowledge",
        )
    now = await session.scalar(select(func.now()))
    alert.acknowledged_at = now
    alert.resolved_at = now
    alert.acknowledged_by = by
    return alert


async def open_alerts(session: AsyncSession, limit: int) -> Sequence[_Alert]:
    return (
        await session.scalars(
            select(_Alert).where(_Alert.resolved_at.is_(None)).order_by(_Alert.id.desc()).limit(limit)
        )
    ).all()


async def resolved_since(session: AsyncSession, since: datetime) -> Sequence[_Alert]:
    return (
        await session.scalars(select(_Alert).where(_Alert.resolved_at >= since).order_by(_Alert.id.desc()))
    ).all()


def to_proto(alert: _Alert) -> reconcile_pb2.ReconcileAlert:
    details = struct_pb2.Struct()
    json_format.ParseDict(alert.details or {}, details)
    out = reconcile_pb2.ReconcileAlert(
        id=alert.id,
        kind=alert.kind,
        severity=alert.severity,
        run_id=alert.run_id or "",
        message=alert.message,
        details=details,
        tenant=alert.tenant_id or "",
        state=_PROTO_STATE[state_of(alert)],
        acknowledged_by=alert.acknowledged_by or "",
    )
    for field, value in (
        ("created_at", alert.created_at),
        ("resolved_at", alert.resolved_at),
        ("acknowledged_at", alert.acknowledged_at),
    ):
        stamp = timestamp(value)
        if stamp is not None:
            getattr(out, field).CopyFrom(stamp)
    return out
