"""ReconcileService against real PostgreSQL: the on-demand pass, expiry, metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import duration_pb2
from sqlalchemy import update

from ccplane.v1 import common_pb2, human_loop_pb2, reconcile_pb2, reconcile_pb2_grpc
from common.db.engine import Database
from common.db.models import AgentRun
from control_plane.app import ControlPlane
from control_plane.runs.state_machine import RunStatus, transition
from tests.conftest import RunFactory
from tests.integration.human_loop.conftest import ask, command_approval, record, run_status, stored


@pytest.fixture
def reconcile(channel: grpc.aio.Channel) -> reconcile_pb2_grpc.ReconcileServiceStub:
    return reconcile_pb2_grpc.ReconcileServiceStub(channel)


async def test_lost_runs_fail_and_orphans_are_lost(
    reconcile: reconcile_pb2_grpc.ReconcileServiceStub, make_run: RunFactory, database: Database
) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    stale = await make_run("lost", updated_at=long_ago, error="executor exec_1 stopped heartbeating")
    fresh = await make_run("lost")
    orphan = await make_run("running", owner_id="cp_01ABCDEFGHJKMNPQRSTVWXYZ01", updated_at=long_ago)
    waiting = await make_run("running")
    question = await ask(database, waiting)
    async with database.session() as session, session.begin():
        await transition(session, waiting, RunStatus.LOST, "executor vanished")
    await _age(database, waiting, long_ago)
    ten_minutes = duration_pb2.Duration(seconds=600)

    dry = await reconcile.ReconcileRuns(
        reconcile_pb2.ReconcileRunsRequest(dry_run=True, stale_after=ten_minutes)
    )
    proposed = {a.run_id: (a.kind, a.previous_status, a.status) for a in dry.actions}
    assert proposed[stale] == ("lost_expired", common_pb2.RUN_STATUS_LOST, common_pb2.RUN_STATUS_FAILED)
    assert proposed[orphan] == ("orphaned", common_pb2.RUN_STATUS_RUNNING, common_pb2.RUN_STATUS_LOST), (
        "its owner is gone"
    )
    assert fresh not in proposed, "lost only recently: its executor may still come back"
    assert await run_status(database, stale) == "lost", "a dry run changes nothing"

    done = await reconcile.ReconcileRuns(reconcile_pb2.ReconcileRunsRequest(stale_after=ten_minutes))
    assert {a.run_id for a in done.actions} >= {stale, orphan, waiting}
    assert await run_status(database, stale) == "failed"
    assert await run_status(database, orphan) == "lost"
    assert await run_status(database, fresh) == "lost"
    assert (await stored(database, question)).status == "canceled", "nobody can answer a failed run"
    async with database.session() as session:
        failed = await session.get_one(AgentRun, stale)
        assert failed.error_reason == "EXECUTOR_LOST"
        assert failed.error is not None and "stopped heartbeating" in failed.error

    again = await reconcile.ReconcileRuns(reconcile_pb2.ReconcileRunsRequest(stale_after=ten_minutes))
    assert stale not in {a.run_id for a in again.actions}, "reconciling twice changes nothing more"

    metrics = await reconcile.GetMetrics(reconcile_pb2.GetMetricsRequest())
    assert metrics.runs_by_status["RUN_STATUS_FAILED"] >= 1
    statuses = {v.name for v in common_pb2.RunStatus.DESCRIPTOR.values} - {"RUN_STATUS_UNSPECIFIED"}
    assert set(metrics.runs_by_status) == statuses
    alerts = {(a.run_id, a.kind) for a in metrics.open_alerts}
    assert (stale, "lost_expired") in alerts
    assert (orphan, "orphaned") in alerts


async def test_negative_stale_after_is_invalid(reconcile: reconcile_pb2_grpc.ReconcileServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await reconcile.ReconcileRuns(
            reconcile_pb2.ReconcileRunsRequest(stale_after=duration_pb2.Duration(seconds=-5))
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "stale_after" in (err.value.details() or "")


async def test_expire_human_loop_requests_expires_what_is_due(
    reconcile: reconcile_pb2_grpc.ReconcileServiceStub,
    control_plane: ControlPlane,
    make_run: RunFactory,
    database: Database,
) -> None:
    sweeper = control_plane.sweeper
    assert sweeper is not None
    await sweeper.stop()  # so that this call, not the periodic sweep, expires them
    try:
        run_id = await make_run("running", settings={"human_loop_timeout": "0.000001s"})
        due = (await record(database, run_id, command_approval())).request.question_id
        later_run = await make_run("running")
        later = (await record(database, later_run, command_approval())).request.question_id

        response = await reconcile.ExpireHumanLoopRequests(reconcile_pb2.ExpireHumanLoopRequestsRequest())
    finally:
        sweeper.start()
    expired = {r.question_id: r for r in response.expired}
    assert due in expired
    assert expired[due].status == human_loop_pb2.HUMAN_LOOP_STATUS_EXPIRED
    assert expired[due].run_id == run_id
    assert later not in expired, "not due for an hour"
    assert (await stored(database, due)).status == "expired"
    assert await run_status(database, run_id) == "running", "nothing waits for a person any more"


async def _age(database: Database, run_id: str, when: datetime) -> None:
    async with database.session() as session, session.begin():
        await session.execute(update(AgentRun).where(AgentRun.id == run_id).values(updated_at=when))
