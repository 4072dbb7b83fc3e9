"""deploy/prometheus and deploy/alertmanager: the alert rules, their unit tests and the example configs.

promtool and amtool (Debian's prometheus and prometheus-alertmanager, installed
by ``make system``) check the files; the rules are also held to the metrics the
services export and to the alerts the README promises.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "ccplane.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "rules" / "ccplane.test.yml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"

# The metrics contract of the services. tests/observability checks the same
# names against the live exporters.
HISTOGRAMS = frozenset(
    {
        "ccplane_human_loop_reply_seconds",
        "ccplane_event_ingest_batch_size",
        "ccplane_event_ingest_duration_seconds",
        "ccplane_grpc_server_handling_seconds",
        "ccplane_workspace_restore_duration_seconds",
        "ccplane_workspace_sync_duration_seconds",
        "ccplane_gateway_request_duration_seconds",
    }
)
EXPORTED_METRICS = HISTOGRAMS | {
    # Control plane.
    "ccplane_runs",
    "ccplane_runs_created_total",
    "ccplane_runs_finished_total",
    "ccplane_run_queue_depth",
    "ccplane_human_loop_pending",
    "ccplane_human_loop_oldest_pending_seconds",
    "ccplane_events_ingested_total",
    "ccplane_event_ingest_errors_total",
    "ccplane_stream_subscribers",
    "ccplane_grpc_server_started_total",
    "ccplane_grpc_server_handled_total",
    "ccplane_grpc_server_in_flight",
    "ccplane_reconcile_actions_total",
    "ccplane_alerts_total",
    "ccplane_alerts_open",
    # Executor-manager.
    "ccplane_executors",
    "ccplane_executor_slots",
    "ccplane_leases_granted_total",
    "ccplane_leases_released_total",
    "ccplane_leases_expired_total",
    # Executor.
    "ccplane_executor_sessions",
    "ccplane_codex_processes",
    "ccplane_codex_resident_memory_bytes",
    "ccplane_workspace_restore_bytes_total",
    "ccplane_workspace_sync_bytes_total",
    "ccplane_provider_errors_total",
    # Gateway.
    "ccplane_gateway_requests_total",
    # Every scrape.
    "up",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

# Gauges computed from the shared database: every control-plane replica
# reports the same value, so summing them counts it once per replica.
DATABASE_GAUGES = (
    "ccplane_runs",
    "ccplane_run_queue_depth",
    "ccplane_human_loop_pending",
    "ccplane_human_loop_oldest_pending_seconds",
    "ccplane_alerts_open",
    # The executor-manager's fleet gauges come from the same database.
    "ccplane_executors",
    "ccplane_executor_slots",
)

REQUIRED_ALERTS = {
    "CcplaneRunWaitingForHuman": "warning",
    "CcplaneQueueAboveCapacity": "warning",
    "CcplaneNoFreeExecutorSlots": "warning",
    "CcplaneEventIngestErrors": "critical",
    "CcplaneExecutorDown": "critical",
    "CcplaneExecutorsUnhealthy": "critical",
    "CcplaneServiceDown": "critical",
    "CcplaneReconcileActionsSpike": "warning",
    "CcplaneGateway5xxRatio": "critical",
}

METRIC_NAME = re.compile(r"\b(ccplane_[a-z_]+|up)\b")
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
# A threshold is one number literal compared at the very end of the expression.
TRAILING_THRESHOLD = re.compile(r"(?:>|<|==|!=|>=|<=)\s*-?[0-9]+(?:\.[0-9]+)?\s*$")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not on PATH: run `make system` (it installs Debian's prometheus and "
            "prometheus-alertmanager)"
        )
    return path


def _run(*args: str) -> None:
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, (
        f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )


def _load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def alerts() -> dict[str, dict[str, Any]]:
    (group,) = _load(RULES)["groups"]
    assert group["name"] == "ccplane"
    rules = group["rules"]
    assert all("alert" in rule for rule in rules), "the group holds alert rules only"
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), f"duplicate alert names: {names}"
    return {rule["alert"]: rule for rule in rules}


@pytest.fixture(scope="module")
def rule_tests() -> list[dict[str, Any]]:
    document = _load(RULE_TESTS)
    assert document["rule_files"] == [RULES.name]
    return [case for test in document["tests"] for case in test.get("alert_rule_test", [])]


def test_promtool_checks_the_rules() -> None:
    _run(_tool("promtool"), "check", "rules", str(RULES.relative_to(ROOT)))


def test_promtool_runs_the_rule_unit_tests() -> None:
    _run(_tool("promtool"), "test", "rules", str(RULE_TESTS.relative_to(ROOT)))


def test_promtool_checks_the_prometheus_config() -> None:
    # check config parses the file and the rule files it names; it neither
    # resolves the targets' host names nor fetches the http_sd URL, so it runs
    # offline as it is.
    _run(_tool("promtool"), "check", "config", str(PROMETHEUS_CONFIG.relative_to(ROOT)))


def test_prometheus_config_scrapes_every_service() -> None:
    config = _load(PROMETHEUS_CONFIG)
    assert config["rule_files"] == ["rules/ccplane.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert sorted(jobs) == [
        "ccplane-control-plane",
        "ccplane-executor",
        "ccplane-executor-manager",
        "ccplane-gateway",
    ]
    assert jobs["ccplane-executor"]["http_sd_configs"] == [
        {"url": "http://executor-manager:9465/sd/executors", "refresh_interval": "30s"}
    ]
    (alertmanager,) = config["alerting"]["alertmanagers"]
    assert alertmanager["static_configs"] == [{"targets": ["alertmanager:9093"]}]


def test_amtool_checks_the_alertmanager_config() -> None:
    _run(_tool("amtool"), "check-config", str(ALERTMANAGER_CONFIG.relative_to(ROOT)))


def test_alertmanager_routes_by_severity() -> None:
    route = _load(ALERTMANAGER_CONFIG)["route"]
    assert route["group_by"] == ["alertname", "tenant"]
    receivers = {tuple(child["matchers"]): child["receiver"] for child in route["routes"]}
    assert receivers == {
        ('severity="critical"',): "ccplane-critical",
        ('severity="warning"',): "ccplane-warning",
    }


def test_every_required_alert_is_defined(alerts: dict[str, dict[str, Any]]) -> None:
    assert sorted(alerts) == sorted(REQUIRED_ALERTS)
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] == REQUIRED_ALERTS[name], name
        annotations = rule["annotations"]
        assert annotations["summary"].strip(), name
        assert annotations["description"].strip(), name
        assert annotations["runbook"] == "README.md#operating-ccplane", name


def test_thresholds_are_one_trailing_literal(alerts: dict[str, dict[str, Any]]) -> None:
    for name, rule in alerts.items():
        assert TRAILING_THRESHOLD.search(rule["expr"]), f"{name}: {rule['expr']!r}"


def test_every_alert_has_a_firing_and_a_quiet_test(
    alerts: dict[str, dict[str, Any]], rule_tests: list[dict[str, Any]]
) -> None:
    firing = {case["alertname"] for case in rule_tests if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in rule_tests if not case.get("exp_alerts")}
    assert sorted(set(alerts) - firing) == [], "alerts without a firing test case"
    assert sorted(set(alerts) - quiet) == [], "alerts without a test case where they stay quiet"


def test_rules_use_only_exported_metrics(alerts: dict[str, dict[str, Any]]) -> None:
    for name, rule in alerts.items():
        metrics = set(METRIC_NAME.findall(QUOTED.sub('""', rule["expr"])))
        assert metrics, f"{name} references no metric"
        for metric in metrics:
            base = next((metric.removesuffix(s) for s in HISTOGRAM_SUFFIXES if metric.endswith(s)), None)
            assert metric in EXPORTED_METRICS or base in HISTOGRAMS, f"{name}: {metric} is not exported"


def test_database_gauges_are_never_summed(alerts: dict[str, dict[str, Any]]) -> None:
    for name, rule in alerts.items():
        for gauge in DATABASE_GAUGES:
            summed = re.compile(rf"\bsum\s*(?:(?:by|without)\s*\([^)]*\)\s*)?\(\s*{gauge}\b")
            assert not summed.search(rule["expr"]), f"{name} sums {gauge}: aggregate it with max"
