"""ReconcileService: reconciliation on demand, human-loop expiry, figures, alerts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import grpc
from sqlalchemy import func, select

from ccplane.v1 import common_pb2, reconcile_pb2, reconcile_pb2_grpc
from common import paging
from common.db import models
from common.db.engine import Database
from common.errors import invalid_argument
from control_plane.alerts import store as alerts_store
from control_plane.auth import current_caller
from control_plane.human_loop.convert import record_to_proto
from control_plane.human_loop.queries import count_pending
from control_plane.human_loop.sweeper import ExpirySweeper
from control_plane.reconcile.loop import Reconciler
from control_plane.runs.state_machine import RunStatus, status_to_proto


class ReconcileServicer(reconcile_pb2_grpc.ReconcileServiceServicer):
    def __init__(
        self,
        db: Database,
        reconciler: Reconciler,
        sweeper: ExpirySweeper,
        *,
        on_alerts_changed: Callable[[], None] | None = None,
    ) -> None:
        """``on_alerts_changed`` is called after an alert was acknowledged
        (the Alertmanager outlet pushes the resolve at once)."""
        self._db = db
        self._on_alerts_changed = on_alerts_changed
        self._reconciler = reconciler
        self._sweeper = sweeper

    async def ReconcileRuns(
        self, request: reconcile_pb2.ReconcileRunsRequest, context: grpc.aio.ServicerContext
    ) -> reconcile_pb2.ReconcileRunsResponse:
        policy = self._reconciler.policy
        if request.HasField("stale_after"):
            stale_after = request.stale_after.ToTimedelta()
            if stale_after < timedelta(0):
                raise invalid_argument("stale_after", "must not be negative")
            policy = policy.with_stale_after(stale_after)
        report = await self._reconciler.pass_once(policy, dry_run=request.dry_run)
        assert report is not None  # the pass waits for its turn
        return reconcile_pb2.ReconcileRunsResponse(
            examined=report.examined,
            actions=[
                reconcile_pb2.ReconcileAction(
                    run_id=a.run_id,
                    previous_status=status_to_proto(a.previous),
                    status=status_to_proto(a.status),
                    reason=a.reason,
                    kind=a.kind,
                    lease_id=a.lease_id,
                )
                for a in report.actions
            ],
        )

    async def ExpireHumanLoopRequests(
        self, request: reconcile_pb2.ExpireHumanLoopRequestsRequest, context: grpc.aio.ServicerContext
    ) -> reconcile_pb2.ExpireHumanLoopRequestsResponse:
        expired = await self._sweeper.sweep_once()
        return reconcile_pb2.ExpireHumanLoopRequestsResponse(expired=[record_to_proto(r) for r in expired])

    async def GetMetrics(
        self, request: reconcile_pb2.GetMetricsRequest, context: grpc.aio.ServicerContext
    ) -> reconcile_pb2.GetMetricsResponse:
        async with self._db.session() as session:
            by_status = dict(
                (
                    await session.execute(
                        select(models.AgentRun.status, func.count()).group_by(models.AgentRun.status)
                    )
                ).all()
            )
            executors = (
                await session.execute(
                    select(
                        func.count(),
                        func.coalesce(func.sum(models.Executor.slots_total), 0),
                        func.coalesce(func.sum(models.Executor.slots_used), 0),
                    ).where(models.Executor.state == "ready")
                )
            ).one()
            usage = (
                await session.execute(
                    select(
                        *(
                            func.coalesce(func.sum(getattr(models.UsageLog, name)), 0)
                            for name in _USAGE_FIELDS
                        )
                    ).where(models.UsageLog.created_at > func.now() - timedelta(hours=24))
                )
            ).one()
            alerts = await alerts_store.open_alerts(session, 100)
            pending = await count_pending(session)
        response = reconcile_pb2.GetMetricsResponse(
            runs_by_status={
                common_pb2.RunStatus.Name(status_to_proto(s)): int(by_status.get(s.value, 0))
                for s in RunStatus
            },
            pending_human_loop_requests=pending,
            executors_ready=int(executors[0]),
            slots_total=int(executors[1]),
            slots_used=int(executors[2]),
            usage_last_24h=common_pb2.Usage(
                **{name: int(v) for name, v in zip(_USAGE_FIELDS, usage, strict=True)}
            ),
        )
        response.open_alerts.extend(alerts_store.to_proto(a) for a in alerts)
        return response

    async def ListAlerts(
        self, request: reconcile_pb2.ListAlertsRequest, context: grpc.aio.ServicerContext
    ) -> reconcile_pb2.ListAlertsResponse:
        flt = alerts_store.AlertFilter.from_request(request)
        size = paging.page_size(request.page_size)
        async with self._db.session() as session:
            rows, token = await alerts_store.list_alerts(
                session, flt, page_size=size, page_token=request.page_token
            )
        return reconcile_pb2.ListAlertsResponse(
            alerts=[alerts_store.to_proto(a) for a in rows], next_page_token=token
        )

    async def AcknowledgeAlert(
        self, request: reconcile_pb2.AcknowledgeAlertRequest, context: grpc.aio.ServicerContext
    ) -> reconcile_pb2.AcknowledgeAlertResponse:
        caller = current_caller()
        async with self._db.session() as session, session.begin():
            alert = await alerts_store.acknowledge(
                session, request.alert_id, caller.key_id or caller.tenant_id
            )
            out = alerts_store.to_proto(alert)
        if self._on_alerts_changed is not None:
            self._on_alerts_changed()
        return reconcile_pb2.AcknowledgeAlertResponse(alert=out)


_USAGE_FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
    "total_tokens",
)
