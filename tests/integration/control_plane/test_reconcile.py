"""ReconcileService against real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import duration_pb2

from ccplane.v1 import common_pb2, human_loop_pb2, reconcile_pb2, reconcile_pb2_grpc
from tests.conftest import RunFactory


@pytest.fixture
def reconcile(channel: grpc.aio.Channel) -> reconcile_pb2_grpc.ReconcileServiceStub:
    return reconcile_pb2_grpc.ReconcileServiceStub(channel)


async def test_lost_runs_are_settled_as_failed(
    reconcile: reconcile_pb2_grpc.ReconcileServiceStub, make_run: RunFactory
) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    stale = await make_run("lost", updated_at=long_ago)
    fresh = await make_run("lost")
    orphan = await make_run("running", owner_id="cp_01ABCDEFGHJKMNPQRSTVWXYZ01", updated_at=long_ago)
    ten_minutes = duration_pb2.Duration(seconds=600)

    dry = await reconcile.ReconcileRuns(
        reconcile_pb2.ReconcileRunsRequest(dry_run=True, stale_after=ten_minutes)
    )
    proposed = {a.run_id: (a.previous_status, a.status) for a in dry.actions}
    assert proposed[stale] == (common_pb2.RUN_STATUS_LOST, common_pb2.RUN_STATUS_FAILED)
    assert proposed[orphan] == (common_pb2.RUN_STATUS_RUNNING, common_pb2.RUN_STATUS_LOST), (
        "its owner is gone"
    )
    assert fresh not in proposed, "lost only recently: its executor may still come back"

    done = await reconcile.ReconcileRuns(reconcile_pb2.ReconcileRunsRequest(stale_after=ten_minutes))
    assert {a.run_id for a in done.actions} >= {stale, orphan}
    again = await reconcile.ReconcileRuns(reconcile_pb2.ReconcileRunsRequest(stale_after=ten_minutes))
    assert stale not in {a.run_id for a in again.actions}, "reconciling twice changes nothing more"

    metrics = await reconcile.GetMetrics(reconcile_pb2.GetMetricsRequest())
    assert metrics.runs_by_status["RUN_STATUS_FAILED"] >= 1
    statuses = {v.name for v in common_pb2.RunStatus.DESCRIPTOR.values} - {"RUN_STATUS_UNSPECIFIED"}
    assert set(metrics.runs_by_status) == statuses
    assert any(alert.run_id == stale for alert in metrics.open_alerts)


async def test_negative_stale_after_is_invalid(reconcile: reconcile_pb2_grpc.ReconcileServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await reconcile.ReconcileRuns(
            reconcile_pb2.ReconcileRunsRequest(stale_after=duration_pb2.Duration(seconds=-5))
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "stale_after" in (err.value.details() or "")


async def test_expire_human_loop_requests_answers(reconcile: reconcile_pb2_grpc.ReconcileServiceStub) -> None:
    response = await reconcile.ExpireHumanLoopRequests(reconcile_pb2.ExpireHumanLoopRequestsRequest())
    assert all(r.status == human_loop_pb2.HUMAN_LOOP_STATUS_EXPIRED for r in response.expired)
