"""The platform monitored by a real Prometheus and a real Alertmanager.

The whole platform runs (control plane, executor-manager, REST gateway,
executor processes with the real codex and the scripted model). Prometheus
scrapes the three services and the executors it finds through the
manager's service discovery, and evaluates the deployment's rules (one of
them with its threshold lowered to seconds); Alertmanager, with the
deployment's routes, notifies a webhook. The test runs a run to the end,
holds one waiting for a person until the rule fires, kills the executor of
that run and sees the platform's own alert arrive, acknowledges it and sees
it resolve, and evaluates every rule and dashboard expression against the live data.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml

from ccplane.v1 import common_pb2, reconcile_pb2, reconcile_pb2_grpc, runs_pb2, runs_pb2_grpc
from common.cli.stack import Stack
from control_plane.auth import DEFAULT_TENANT
from tests.contract.test_alert_rules import EXPORTED_METRICS, HISTOGRAMS
from tests.observability import promstack
from tests.observability.dashboards import dashboard_queries
from tests.platform import LIBRARY, own_database, scenario_library
from tests.reliability.conftest import QUESTION, fault_platform, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

FINAL = {common_pb2.RUN_STATUS_SUCCEEDED, common_pb2.RUN_STATUS_FAILED, common_pb2.RUN_STATUS_CANCELED}
SCENARIOS = {
    "ask": {"steps": [{"output": [QUESTION]}, {"output": [{"message": "Thanks."}]}]},
    "quick": LIBRARY["quick"],
}
WAIT_S = 60.0


class Monitoring:
    def __init__(self, stack: Stack, prometheus: str, alertmanager: str, webhook: promstack.Webhook) -> None:
        self.stack = stack
        self.prometheus = prometheus
        self.alertmanager = alertmanager
        self.webhook = webhook
        self.http = httpx.AsyncClient(timeout=10)

    async def query(self, expr: str) -> list[dict[str, Any]]:
        response = await self.http.get(f"{self.prometheus}/api/v1/query", params={"query": expr})
        body = response.json()
        assert body["status"] == "success", f"{expr}: {body}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    async def scalar(self, expr: str) -> float:
        result = await self.query(expr)
        return float(result[0]["value"][1]) if result else 0.0

    async def firing(self) -> set[str]:
        body = (await self.http.get(f"{self.prometheus}/api/v1/alerts")).json()
        return {a["labels"]["alertname"] for a in body["data"]["alerts"] if a["state"] == "firing"}

    async def alertmanager_alerts(self) -> list[dict[str, Any]]:
        response = await self.http.get(f"{self.alertmanager}/api/v2/alerts", params={"active": "true"})
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
        return alerts


async def eventually(what: str, check: Any, timeout_s: float = WAIT_S) -> Any:
    """``await check()`` until it returns something truthy; fails naming ``what``."""
    last: Any = None
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                last = await check()
                if last:
                    return last
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {timeout_s:.0f}s (last: {last!r})") from None


@pytest_asyncio.fixture(loop_scope="session")
async def monitoring(postgres_server_url: str, tmp_path: Path) -> AsyncIterator[Monitoring]:
    webhook = promstack.Webhook()
    try:
        with (
            promstack.alertmanager(tmp_path / "alertmanager", webhook) as alertmanager,
            own_database(postgres_server_url, "ccplane_monitoring") as database_url,
        ):
            await alertmanager.ready()
            async with fault_platform(
                database_url,
                tmp_path / "data",
                scenario_library("monitoring", SCENARIOS),
                executors=1,
                serve_gateway=True,
                settings={"alertmanager_url": alertmanager.url, "alertmanager_interval": 0.5},
            ) as stack:
                endpoints = stack.endpoints()
                scrape = {
                    "ccplane-control-plane": endpoints["control_plane_metrics"].split("/")[2],
                    "ccplane-executor-manager": endpoints["executor_manager_metrics"].split("/")[2],
                    "ccplane-gateway": endpoints["gateway_metrics"].split("/")[2],
                    "ccplane-executor": {"sd": endpoints["executor_sd"]},
                }
                rules = promstack.quickened_rules({"CcplaneRunWaitingForHuman": "2"})
                with promstack.prometheus(tmp_path / "prometheus", scrape, alertmanager.url, rules) as prom:
                    await prom.ready()
                    watch = Monitoring(stack, prom.url, alertmanager.url, webhook)
                    try:
                        yield watch
                    finally:
                        await watch.http.aclose()
    finally:
        webhook.close()


async def test_prometheus_and_alertmanager_see_the_platform(monitoring: Monitoring) -> None:
    stack = monitoring.stack

    # Every target is up, the executors found through the manager's discovery.
    async def all_up() -> dict[str, list[str]] | None:
        body = (await monitoring.http.get(f"{monitoring.prometheus}/api/v1/targets")).json()
        by_job: dict[str, list[str]] = {}
        for target in body["data"]["activeTargets"]:
            by_job.setdefault(target["labels"]["job"], []).append(target["health"])
        jobs = {"ccplane-control-plane", "ccplane-executor-manager", "ccplane-gateway", "ccplane-executor"}
        if set(by_job) == jobs and all(h == ["up"] * len(h) for h in by_job.values()):
            return by_job
        return None

    await eventually("every scrape target up", all_up)

    # endpoints.json (what `ccplane up` writes) lists where each part answers.
    written = json.loads(stack.write_endpoints().read_text())
    assert written == stack.endpoints()
    for key in ("control_plane_metrics", "executor_manager_metrics", "gateway_metrics", "executor_sd"):
        assert (await monitoring.http.get(written[key])).status_code == 200, key

    async with stack.channel() as channel:
        runs = runs_pb2_grpc.RunServiceStub(channel)
        reconcile = reconcile_pb2_grpc.ReconcileServiceStub(channel)

        # A run that succeeds moves the finished counter.
        succeeded = 'max(ccplane_runs_finished_total{status="succeeded"})'
        before = await monitoring.scalar(succeeded)
        quick = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:quick] Say hello."))).run
        done = await wait_for_status(runs, quick.id, FINAL, WAIT_S)
        assert done.status == common_pb2.RUN_STATUS_SUCCEEDED, done.error

        async def finished_moved() -> bool:
            return await monitoring.scalar(succeeded) >= before + 1

        await eventually("ccplane_runs_finished_total{status=succeeded} to move", finished_moved)
        assert await monitoring.scalar("sum(ccplane_events_ingested_total)") > 0
        assert await monitoring.scalar("sum(ccplane_workspace_restore_duration_seconds_count)") >= 1

        # A run waiting for a person past the (lowered) threshold fires the rule.
        asking = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:ask] Ask me."))).run
        waiting = await wait_for_status(runs, asking.id, {common_pb2.RUN_STATUS_WAITING_HUMAN}, WAIT_S)

        async def rule_fired() -> bool:
            return "CcplaneRunWaitingForHuman" in await monitoring.firing()

        await eventually("CcplaneRunWaitingForHuman to fire in Prometheus", rule_fired)

        async def in_alertmanager(name: str) -> list[dict[str, Any]]:
            return [a for a in await monitoring.alertmanager_alerts() if a["labels"]["alertname"] == name]

        [waiting_alert] = await eventually(
            "CcplaneRunWaitingForHuman in Alertmanager", lambda: in_alertmanager("CcplaneRunWaitingForHuman")
        )
        assert waiting_alert["labels"]["severity"] == "warning"
        assert await eventually(
            "the warning webhook to be notified",
            lambda: _async(
                [
                    a
                    for a in monitoring.webhook.alerts("/ccplane-warning")
                    if a["labels"]["alertname"] == "CcplaneRunWaitingForHuman"
                ]
            ),
        )

        # The executor of that run is killed: the platform's own alert arrives.
        assert stack.manager is not None and stack.manager.pool is not None
        handle = stack.manager.pool.handle(waiting.executor_id)
        assert handle is not None
        os.kill(int(handle.ref), signal.SIGKILL)
        failed = await wait_for_status(runs, asking.id, FINAL, WAIT_S)
        assert failed.status == common_pb2.RUN_STATUS_FAILED
        assert failed.error_reason == "EXECUTOR_LOST"

        async def lost_alert() -> list[dict[str, Any]]:
            return [
                a
                for a in await in_alertmanager("CcplaneRunExecutorLost")
                if a["annotations"].get("run_id") == asking.id
            ]

        [pushed] = await eventually("the platform's executor-lost alert in Alertmanager", lost_alert)
        assert pushed["labels"]["severity"] == "critical"
        assert pushed["labels"]["tenant"] == DEFAULT_TENANT
        assert pushed["labels"]["kind"] in {"executor_lost", "lost_expired"}
        assert await eventually(
            "the critical webhook to be notified",
            lambda: _async(
                [
                    a
                    for a in monitoring.webhook.alerts("/ccplane-critical")
                    if a["annotations"].get("run_id") == asking.id
                ]
            ),
        )

        # Acknowledged: resolved in Alertmanager too.
        alert_id = int(pushed["labels"]["alert_id"])
        acked = await reconcile.AcknowledgeAlert(reconcile_pb2.AcknowledgeAlertRequest(alert_id=alert_id))
        assert acked.alert.state == reconcile_pb2.ALERT_STATE_ACKNOWLEDGED

        async def gone() -> bool:
            return not await lost_alert()

        await eventually("the acknowledged alert to resolve in Alertmanager", gone)

    # Every rule's expression (as deployed) evaluates against the live data.
    rules = yaml.safe_load(promstack.RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            await monitoring.query(rule["expr"])

    # Every PromQL query of the Grafana dashboards evaluates too.
    queries = dashboard_queries()
    assert queries, "the dashboards hold Prometheus queries"
    for uid, title, expr in queries:
        try:
            await monitoring.query(expr)
        except AssertionError as exc:
            raise AssertionError(f"dashboard {uid}, panel {title!r}: {exc}") from None

    # Every metric of the contract is exported by a live process.
    names = set(
        (await monitoring.http.get(f"{monitoring.prometheus}/api/v1/label/__name__/values")).json()["data"]
    )
    expected = {m for m in EXPORTED_METRICS if m not in HISTOGRAMS} | {f"{h}_count" for h in HISTOGRAMS}
    assert expected - names == set()


async def _async(value: Any) -> Any:
    return value
