"""ReconcileService: reconciliation on demand, human-loop expiry, metrics."""

from __future__ import annotations

from datetime import timedelta

import grpc
from google.protobuf import json_format, struct_pb2
from sqlalchemy import func, select

from ccplane.v1 import common_pb2, reconcile_pb2, reconcile_pb2_grpc
from common.db import models
from common.db.engine import Database
from common.errors import invalid_argument
from control_plane.human_loop.convert import record_to_proto
from control_plane.human_loop.queries import count_pending
from control_plane.human_loop.sweeper import ExpirySweeper
from control_plane.reconcile.loop import Reconciler
from control_plane.runs.convert import timestamp
from control_plane.runs.state_machine import RunStatus, status_to_proto


class ReconcileServicer(reconcile_pb2_grpc.ReconcileServiceServicer):
    def __init__(self, db: Database, reconciler: Reconciler, sweeper: ExpirySweeper) -> None:
        self._db = db
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
            alerts = (
                (
                    await session.execute(
                        select(models.ReconcileAlert)
                        .where(models.ReconcileAlert.resolved_at.is_(None))
                        .order_by(models.ReconcileAlert.id.desc())
                        .limit(100)
                    )
                )
                .scalars()
                .all()
            )
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
        for alert in alerts:
            details = struct_pb2.Struct()
            json_format.ParseDict(alert.details or {}, details)
            item = response.open_alerts.add(
                id=alert.id,
                kind=alert.kind,
                severity=alert.severity,
                run_id=alert.run_id or "",
                message=alert.message,
                details=details,
            )
            created = timestamp(alert.created_at)
            if created is not None:
                item.created_at.CopyFrom(created)
        return response


_USAGE_FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
    "total_tokens",
)
