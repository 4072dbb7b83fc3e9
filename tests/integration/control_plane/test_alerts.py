"""The platform's alerts against real PostgreSQL: recorded with their tenant,
listed with filters and pages, acknowledged, resolved when their condition
clears; ListAlerts and AcknowledgeAlert refuse bad input clearly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import duration_pb2
from sqlalchemy import select

from ccplane.v1 import reconcile_pb2, reconcile_pb2_grpc
from common.db.engine import Database
from common.db.models import ReconcileAlert
from control_plane.alerts import store as alerts
from control_plane.runs.state_machine import RunStatus, transition
from tests.conftest import TEST_TENANT, RunFactory
from tests.stack_fixtures import ChannelFactory

OPEN = reconcile_pb2.ALERT_STATE_OPEN
ACKNOWLEDGED = reconcile_pb2.ALERT_STATE_ACKNOWLEDGED
RESOLVED = reconcile_pb2.ALERT_STATE_RESOLVED


@pytest.fixture
def reconcile(channel: grpc.aio.Channel) -> reconcile_pb2_grpc.ReconcileServiceStub:
    return reconcile_pb2_grpc.ReconcileServiceStub(channel)


async def _raise(database: Database, kind: str, run_id: str, severity: str = "warning") -> int:
    async with database.session() as session, session.begin():
        alerts.record(session, kind, run_id=run_id, severity=severity, message=f"{run_id}: {kind}")
    async with database.session() as session:
        found = await session.scalar(
            select(ReconcileAlert.id)
            .where(ReconcileAlert.run_id == run_id, ReconcileAlert.kind == kind)
            .order_by(ReconcileAlert.id.desc())
        )
    assert found is not None
    return int(found)


async def test_an_alert_carries_its_runs_tenant_and_is_acknowledged_once(
    reconcile: reconcile_pb2_grpc.ReconcileServiceStub, make_run: RunFactory, database: Database
) -> None:
    run = await make_run("failed")
    alert_id = await _raise(database, "lost_expired", run, severity="critical")

    listed = await reconcile.ListAlerts(reconcile_pb2.ListAlertsRequest(run_id=run))
    [alert] = listed.alerts
    assert (alert.id, alert.kind, alert.severity, alert.tenant, alert.state) == (
        alert_id,
        "lost_expired",
        "critical",
        TEST_TENANT,
        OPEN,
    )
    assert alert.HasField("created_at") and not alert.HasField("resolved_at")

    acked = (await reconcile.AcknowledgeAlert(reconcile_pb2.AcknowledgeAlertRequest(alert_id=alert_id))).alert
    assert acked.state == ACKNOWLEDGED
    assert acked.acknowledged_by, "who acknowledged it is recorded"
    assert acked.HasField("acknowledged_at") and acked.resolved_at == acked.acknowledged_at

    again = (await reconcile.AcknowledgeAlert(reconcile_pb2.AcknowledgeAlertRequest(alert_id=alert_id))).alert
    assert again == acked, "acknowledging twice changes nothing"
    still_open = await reconcile.ListAlerts(reconcile_pb2.ListAlertsRequest(run_id=run, state=[OPEN]))
    assert not still_open.alerts
    metrics = await reconcile.GetMetrics(reconcile_pb2.GetMetricsRequest())
    assert alert_id not in {a.id for a in metrics.open_alerts}


async def test_alerts_whose_condition_clears_resolve_in_the_next_pass(
    reconcile: reconcile_pb2_grpc.ReconcileServiceStub, make_run: RunFactory, database: Database
) -> None:
    queued = await make_run("queued")
    waiting = await make_run("queued")
    cleared = await _raise(database, "queued_too_long", queued)
    holding = await _raise(database, "queued_too_long", waiting)
    async with database.session() as session, session.begin():
        await transition(session, queued, RunStatus.STARTING, "an executor slot freed up")

    far = duration_pb2.Duration(seconds=24 * 3600)
    await reconcile.ReconcileRuns(reconcile_pb2.ReconcileRunsRequest(stale_after=far))

    by_id = {
        a.id: a
        for a in (
            await reconcile.ListAlerts(reconcile_pb2.ListAlertsRequest(kind="queued_too_long", page_size=500))
        ).alerts
    }
    assert by_id[cleared].state == RESOLVED, "the run left the queue"
    assert not by_id[cleared].acknowledged_by
    assert by_id[holding].state == OPEN, "still queued"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await reconcile.AcknowledgeAlert(reconcile_pb2.AcknowledgeAlertRequest(alert_id=cleared))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "resolved" in (err.value.details() or "")


async def test_list_filters_and_pages_newest_first(
    reconcile: reconcile_pb2_grpc.ReconcileServiceStub, make_run: RunFactory, database: Database
) -> None:
    run = await make_run("failed", tenant_id="alerts-paging")
    raised = [await _raise(database, "start_timeout", run) for _ in range(5)]
    raised.append(await _raise(database, "lost_expired", run, severity="critical"))

    seen: list[int] = []
    token = ""
    while True:
        page = await reconcile.ListAlerts(
            reconcile_pb2.ListAlertsRequest(tenant="alerts-paging", page_size=2, page_token=token)
        )
        assert len(page.alerts) <= 2
        seen += [a.id for a in page.alerts]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(raised, reverse=True)

    critical = await reconcile.ListAlerts(
        reconcile_pb2.ListAlertsRequest(tenant="alerts-paging", severity="critical")
    )
    assert [a.id for a in critical.alerts] == [raised[-1]]
    timeouts = await reconcile.ListAlerts(
        reconcile_pb2.ListAlertsRequest(tenant="alerts-paging", kind="start_timeout", state=[OPEN])
    )
    assert [a.id for a in timeouts.alerts] == sorted(raised[:-1], reverse=True)


@pytest.mark.parametrize(
    ("request_", "code", "field"),
    [
        (reconcile_pb2.ListAlertsRequest(severity="loud"), grpc.StatusCode.INVALID_ARGUMENT, "severity"),
        (reconcile_pb2.ListAlertsRequest(page_size=-1), grpc.StatusCode.INVALID_ARGUMENT, "page_size"),
        (reconcile_pb2.ListAlertsRequest(state=[42]), grpc.StatusCode.INVALID_ARGUMENT, "state"),
        (
            reconcile_pb2.ListAlertsRequest(page_token="not-a-token"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "page_token",
        ),
    ],
)
async def test_bad_list_requests_name_the_field(
    reconcile: reconcile_pb2_grpc.ReconcileServiceStub,
    request_: reconcile_pb2.ListAlertsRequest,
    code: grpc.StatusCode,
    field: str,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await reconcile.ListAlerts(request_)
    assert err.value.code() == code
    assert field in (err.value.details() or "")


async def test_acknowledging_what_does_not_exist(reconcile: reconcile_pb2_grpc.ReconcileServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await reconcile.AcknowledgeAlert(reconcile_pb2.AcknowledgeAlertRequest(alert_id=0))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "alert_id" in (err.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await reconcile.AcknowledgeAlert(reconcile_pb2.AcknowledgeAlertRequest(alert_id=2**62))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_only_admins_see_alerts(tenant_channel: ChannelFactory) -> None:
    user = reconcile_pb2_grpc.ReconcileServiceStub(await tenant_channel("alerts-user", role="user"))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await user.ListAlerts(reconcile_pb2.ListAlertsRequest())
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_alertmanager_labels_are_bounded() -> None:
    """Alert labels stay bounded: the run and the age are annotations or fields."""
    from control_plane.alerts.outlet import to_alertmanager

    alert = ReconcileAlert(
        id=7,
        kind="lost_expired",
        severity="critical",
        run_id="run_x",
        tenant_id="ten_a",
        message="run_x failed",
        details={},
        created_at=datetime.now(UTC) - timedelta(minutes=1),
        acknowledged_by="",
    )
    sent = to_alertmanager(alert, datetime.now(UTC))
    assert sent["labels"] == {
        "alertname": "CcplaneRunExecutorLost",
        "severity": "critical",
        "kind": "lost_expired",
        "alert_id": "7",
        "service": "ccplane",
        "tenant": "ten_a",
    }
    assert sent["annotations"]["run_id"] == "run_x"
    assert sent["startsAt"].endswith("Z")
