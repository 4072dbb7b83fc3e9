"""The control plane's /metrics against real PostgreSQL: figures the database
holds (runs by status, queue, pending human-loop requests, alerts), what the
process does (gRPC calls by code), in the Prometheus text format."""

from __future__ import annotations

import grpc
import httpx
from prometheus_client.parser import text_string_to_metric_families

from ccplane.v1 import runs_pb2, runs_pb2_grpc
from common.db.engine import Database
from control_plane.alerts import store as alerts
from control_plane.app import ControlPlane
from tests.conftest import RunFactory
from tests.integration.human_loop.conftest import ask

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(plane: ControlPlane) -> Samples:
    assert plane.metrics_url, "the test control plane serves metrics"
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{plane.metrics_url}/metrics")
    response.raise_for_status()
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_database_figures_move_with_the_runs(
    control_plane: ControlPlane, make_run: RunFactory, database: Database
) -> None:
    before = await scrape(control_plane)
    queued = [await make_run("queued") for _ in range(3)]
    await make_run("succeeded")
    waiting = await make_run("running")
    await ask(database, waiting)
    async with database.session() as session, session.begin():
        alerts.record(session, "queued_too_long", run_id=queued[0], message="queued too long")

    after = await scrape(control_plane)
    assert value(after, "ccplane_runs_created_total") - value(before, "ccplane_runs_created_total") == 5
    assert value(after, "ccplane_run_queue_depth") - value(before, "ccplane_run_queue_depth") == 3
    assert value(after, "ccplane_runs", status="queued") == value(after, "ccplane_run_queue_depth")
    assert (
        value(after, "ccplane_runs_finished_total", status="succeeded")
        - value(before, "ccplane_runs_finished_total", status="succeeded")
        == 1
    )
    assert value(after, "ccplane_human_loop_pending") >= 1
    assert value(after, "ccplane_human_loop_oldest_pending_seconds") >= 0
    assert (
        value(after, "ccplane_alerts_total", kind="queued_too_long", severity="warning")
        - value(before, "ccplane_alerts_total", kind="queued_too_long", severity="warning")
        == 1
    )
    assert value(after, "ccplane_alerts_open", severity="warning") >= 1
    for status in (
        "queued",
        "starting",
        "running",
        "waiting_human",
        "lost",
        "succeeded",
        "failed",
        "canceled",
    ):
        assert ("ccplane_runs", (("status", status),)) in after, f"every status is reported ({status})"
    for kind in ("lost_expired", "orphaned", "start_timeout", "queued_too_long", "stale_lease"):
        assert ("ccplane_reconcile_actions_total", (("kind", kind),)) in after


async def test_grpc_calls_are_counted_by_method_and_code(
    control_plane: ControlPlane, channel: grpc.aio.Channel
) -> None:
    labels = {"grpc_service": "ccplane.v1.RunService", "grpc_method": "GetRun"}
    before = await scrape(control_plane)
    runs = runs_pb2_grpc.RunServiceStub(channel)
    try:
        await runs.GetRun(runs_pb2.GetRunRequest(run_id="run_00000000000000000000000000"))
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.NOT_FOUND
    async with grpc.aio.insecure_channel(control_plane.address) as anonymous:
        try:
            await runs_pb2_grpc.RunServiceStub(anonymous).GetRun(runs_pb2.GetRunRequest(run_id="run_x"))
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAUTHENTICATED
    after = await scrape(control_plane)

    def moved(name: str, **extra: str) -> float:
        return value(after, name, **labels, **extra) - value(before, name, **labels, **extra)

    assert moved("ccplane_grpc_server_started_total") == 2
    assert moved("ccplane_grpc_server_handled_total", grpc_code="NOT_FOUND") == 1
    assert moved("ccplane_grpc_server_handled_total", grpc_code="UNAUTHENTICATED") == 1
    assert moved("ccplane_grpc_server_handling_seconds_count") == 2
    assert value(after, "ccplane_grpc_server_in_flight", **labels) == 0


async def test_no_label_carries_a_run_id(control_plane: ControlPlane, make_run: RunFactory) -> None:
    run = await make_run("queued")
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{control_plane.metrics_url}/metrics")).text
    assert run not in text
    assert "run_" not in "".join(
        str(sample.labels) for family in text_string_to_metric_families(text) for sample in family.samples
    )
