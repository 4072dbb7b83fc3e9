"""deploy/grafana, deploy/loki and deploy/promtail: the dashboards, their provisioning and the log pipeline.

Grafana, Loki and Promtail are not run here: their files are held to what the
platform exports and logs. Every PromQL expression of the dashboards is parsed
by promtool (Debian's prometheus, installed by ``make system``);
tests/observability/test_monitoring.py evaluates them against a live
Prometheus.
"""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.logging import JsonFormatter
from tests.contract.test_alert_rules import (
    DATABASE_GAUGES,
    EXPORTED_METRICS,
    HISTOGRAM_SUFFIXES,
    HISTOGRAMS,
    QUOTED,
)
from tests.observability.dashboards import (
    DASHBOARDS,
    dashboard_files,
    dashboard_queries,
    is_prometheus,
    load,
    substitute,
    walk_panels,
)

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "ccplane.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "ccplane.yml"
LOKI_CONFIG = ROOT / "deploy" / "loki" / "loki.yml"
PROMTAIL_CONFIG = ROOT / "deploy" / "promtail" / "promtail.yml"

PROMETHEUS_DS = {"type": "prometheus", "uid": "prometheus"}
LOKI_DS = {"type": "loki", "uid": "loki"}
DASHBOARD_UIDS = {"ccplane-overview", "ccplane-run-logs"}
SERVICES = ("control-plane", "executor-manager", "gateway", "executor")

# What the overview must show, by a metric each topic needs.
REQUIRED_METRICS = (
    "ccplane_runs",
    "ccplane_run_queue_depth",
    "ccplane_human_loop_pending",
    "ccplane_human_loop_oldest_pending_seconds",
    "ccplane_events_ingested_total",
    "ccplane_executor_slots",
    "ccplane_codex_processes",
    "ccplane_gateway_request_duration_seconds_bucket",
    "ccplane_gateway_requests_total",
    "ccplane_human_loop_reply_seconds_bucket",
    "ccplane_alerts_open",
)
# Read from the shared database, identical on every replica: max, never sum.
DATABASE_FIGURES = (
    *DATABASE_GAUGES,
    "ccplane_runs_created_total",
    "ccplane_runs_finished_total",
    "ccplane_alerts_total",
)
# Series Prometheus makes itself from the alert rules.
PROMETHEUS_SERIES = {"ALERTS", "ALERTS_FOR_STATE"}

AGGREGATIONS = frozenset(
    {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk"}
    | {"quantile"}
)
KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless"}
    | {"offset", "inf", "nan", "atan2"}
)
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
IDENTIFIER = re.compile(r"(?<![\w.:])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not on PATH: run `make system` (it installs Debian's prometheus)")
    return path


def _yaml(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict), path
    return document


@pytest.fixture(scope="module")
def dashboards() -> dict[str, dict[str, Any]]:
    found = {path.stem: load(path) for path in dashboard_files()}
    assert {d["uid"] for d in found.values()} == DASHBOARD_UIDS
    return {d["uid"]: d for d in found.values()}


@pytest.fixture(scope="module")
def queries() -> list[tuple[str, str, str]]:
    found = dashboard_queries()
    assert found, "the dashboards hold no Prometheus query"
    return found


def _targets(dashboard: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (panel, target) for panel in walk_panels(dashboard["panels"]) for target in panel.get("targets") or []
    ]


def _metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions,
    keywords, label names (in braces or grouping clauses), durations or strings."""
    text = QUOTED.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = GROUPING.sub("", text)
    text = re.sub(r"\b\d[\w.]*", "", text)  # numbers (1e3, 0.5)
    return {name for name in IDENTIFIER.findall(text) if name.lower() not in KEYWORDS}


def _innermost_aggregation(expr: str, position: int) -> str | None:
    """The aggregation operator nearest around ``expr[position]`` (functions like rate are
    passed through), or None when no aggregation encloses it."""
    depth = 0
    for i in range(position - 1, -1, -1):
        if expr[i] == ")":
            depth += 1
        elif expr[i] == "(":
            if depth:
                depth -= 1
                continue
            before = re.search(r"(\w+)\s*(?:(?:by|without)\s*\([^)]*\)\s*)?$", expr[:i])
            if before and before[1] in AGGREGATIONS:
                return before[1]
    return None


# --------------------------------------------------------------------------- dashboards


def test_dashboards_are_valid_grafana_json(dashboards: dict[str, dict[str, Any]]) -> None:
    for path in dashboard_files():
        assert path.stem == load(path)["uid"], f"{path.name}: name the file after its uid"
    for uid, dashboard in dashboards.items():
        assert dashboard["title"].strip(), uid
        assert dashboard["schemaVersion"] >= 36, uid
        assert "ccplane" in dashboard["tags"], uid
        panels = list(walk_panels(dashboard["panels"]))
        assert panels, f"{uid} has no panels"
        ids = [panel["id"] for panel in panels]
        assert len(ids) == len(set(ids)), f"{uid}: duplicate panel ids {ids}"
        for panel in panels:
            where = f"{uid} panel {panel['id']} ({panel.get('title')})"
            assert panel["title"].strip(), where
            grid = panel["gridPos"]
            assert all(isinstance(grid[k], int) and grid[k] >= 0 for k in "hwxy"), where
            assert grid["h"] > 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, where
            if panel["type"] != "row":
                assert panel.get("targets"), f"{where} has no query"
        _assert_no_overlap(uid, [p for p in dashboard["panels"]])


def _assert_no_overlap(uid: str, panels: list[dict[str, Any]]) -> None:
    cells: dict[tuple[int, int], int] = {}
    for panel in panels:
        grid = panel["gridPos"]
        for y in range(grid["y"], grid["y"] + grid["h"]):
            for x in range(grid["x"], grid["x"] + grid["w"]):
                other = cells.setdefault((x, y), panel["id"])
                assert other == panel["id"], f"{uid}: panels {other} and {panel['id']} overlap at {(x, y)}"


def test_dashboards_name_the_provisioned_datasources_by_uid(dashboards: dict[str, dict[str, Any]]) -> None:
    for uid, dashboard in dashboards.items():
        for panel in walk_panels(dashboard["panels"]):
            if panel["type"] == "row":
                continue
            assert panel["datasource"] in (PROMETHEUS_DS, LOKI_DS), f"{uid}: {panel['title']}"
            for target in panel["targets"]:
                assert target["datasource"] == panel["datasource"], f"{uid}: {panel['title']}"
                assert target["expr"].strip(), f"{uid}: {panel['title']}"
    overview = dashboards["ccplane-overview"]
    assert all(is_prometheus(target, panel) for panel, target in _targets(overview))


def test_queries_use_only_exported_metrics(queries: list[tuple[str, str, str]]) -> None:
    for uid, title, expr in queries:
        names = _metric_names(expr)
        assert names, f"{uid} / {title}: no metric in {expr!r}"
        for name in names:
            base = next((name.removesuffix(s) for s in HISTOGRAM_SUFFIXES if name.endswith(s)), None)
            assert name in EXPORTED_METRICS or base in HISTOGRAMS or name in PROMETHEUS_SERIES, (
                f"{uid} / {title}: {name} is not exported ({expr!r})"
            )


def test_metric_names_are_found_in_expressions() -> None:
    # The extraction the test above relies on.
    assert _metric_names(
        "histogram_quantile(0.95, sum by (le, route) "
        '(rate(ccplane_gateway_request_duration_seconds_bucket{route!~".*/x"}[1m])))'
    ) == {"ccplane_gateway_request_duration_seconds_bucket"}
    assert _metric_names('sum(rate(a_total{x="y"}[5m] offset 1m)) / on (job) group_left up') == {
        "a_total",
        "up",
    }
    assert _metric_names("max(ccplane_runs) > bool 1e3") == {"ccplane_runs"}


def test_database_figures_are_aggregated_with_max(queries: list[tuple[str, str, str]]) -> None:
    for uid, title, expr in queries:
        text = QUOTED.sub(lambda m: " " * len(m[0]), expr)
        for figure in DATABASE_FIGURES:
            # The rule files' check: no sum straight over the figure...
            summed = re.compile(rf"\bsum\s*(?:(?:by|without)\s*\([^)]*\)\s*)?\(\s*{figure}\b")
            assert not summed.search(text), f"{uid} / {title} sums {figure}: aggregate it with max"
            # ...nor through a function (sum(rate(...))): max must come first.
            for found in re.finditer(rf"\b{figure}\b(?!_)", text):
                aggregation = _innermost_aggregation(text, found.start())
                assert aggregation == "max", (
                    f"{uid} / {title}: {figure} is aggregated by {aggregation}, not max ({expr!r})"
                )


def test_innermost_aggregation_is_found() -> None:
    expr = "sum(max by (s) (a)) + sum by (j) (rate(b[1m])) + c + max(rate(d[1m])) * 60"
    assert _innermost_aggregation(expr, expr.index("a)")) == "max"
    assert _innermost_aggregation(expr, expr.index("b[")) == "sum"
    assert _innermost_aggregation(expr, expr.index("c ")) is None
    assert _innermost_aggregation(expr, expr.index("d[")) == "max"


def test_overview_covers_every_topic(queries: list[tuple[str, str, str]]) -> None:
    overview = " ".join(expr for uid, _, expr in queries if uid == "ccplane-overview")
    missing = [metric for metric in REQUIRED_METRICS if not re.search(rf"\b{metric}\b(?!_)", overview)]
    assert missing == [], f"the overview shows nothing of {missing}"


def test_promtool_parses_every_query(queries: list[tuple[str, str, str]], tmp_path: Path) -> None:
    promtool = _tool("promtool")
    # One recording rule per query, each in its own group so that promtool's
    # error names the panel.
    groups = [
        {"name": f"{i} {uid}: {title}", "rules": [{"record": f"dashboard_query_{i}", "expr": expr}]}
        for i, (uid, title, expr) in enumerate(queries)
    ]
    rules = tmp_path / "dashboards.rules.yml"
    rules.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    result = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"promtool check rules:\n{result.stdout}\n{result.stderr}"
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout, result.stdout


def test_promtool_rejects_a_broken_query(tmp_path: Path) -> None:
    # The check above would catch a broken expression (and not pass vacuously).
    rules = tmp_path / "broken.rules.yml"
    rules.write_text(
        yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "x", "expr": "sum(rate(up[1m])"}]}]})
    )
    result = subprocess.run(
        [_tool("promtool"), "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0


def test_substitution_of_macros_and_variables() -> None:
    defaults = {"job": "ccplane-executor", "window": "1h", "instance": ""}
    assert (
        substitute(
            'sum by ($job) (rate(x{instance="$instance", job!="${job}"}[$__rate_interval]))'
            ' + rate(y[$window]) + increase(z[$__range]) + label_replace(w, "a", "$1", "b", "(.*)")',
            defaults,
        )
        == 'sum by (ccplane-executor) (rate(x{instance=~".*", job!~".*"}[1m]))'
        ' + rate(y[1h]) + increase(z[5m]) + label_replace(w, "a", "$1", "b", "(.*)")'
    )
    assert substitute("rate(x[$__interval])", {}) == "rate(x[30s])"
    with pytest.raises(ValueError, match="instance"):
        substitute("topk($instance, x)", defaults)
    with pytest.raises(ValueError, match="__nope"):
        substitute("rate(x[$__nope])", {})


def test_dashboard_queries_have_nothing_left_to_substitute(queries: list[tuple[str, str, str]]) -> None:
    for uid, title, expr in queries:
        assert "$" not in QUOTED.sub('""', expr) and "[[" not in expr, f"{uid} / {title}: {expr!r}"


# --------------------------------------------------------------------------- a run's logs


def test_run_logs_dashboard_filters_by_run_id(dashboards: dict[str, dict[str, Any]]) -> None:
    dashboard = dashboards["ccplane-run-logs"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["run_id"]["type"] == "textbox"
    targets = _targets(dashboard)
    assert targets and all(panel["datasource"] == LOKI_DS for panel, _ in targets)
    run_filter = re.compile(r'\|\s*run_id\s*=\s*"\$(?:run_id|\{run_id\})"')
    for panel, target in targets:
        assert run_filter.search(target["expr"]), f"{panel['title']}: {target['expr']!r}"
    kinds = {panel["type"] for panel, _ in targets}
    assert "logs" in kinds
    assert any(re.search(r"\bby\s*\(\s*level\s*\)", target["expr"]) for _, target in targets), (
        "no panel counts the run's lines by level"
    )
    # The level variable offers the levels the services write.
    if "level" in variables:
        assert set(variables["level"]["query"].split(",")) == {
            "debug",
            "info",
            "warning",
            "error",
            "critical",
        }


def test_loki_queries_select_streams_by_promtails_labels(dashboards: dict[str, dict[str, Any]]) -> None:
    stream_labels = _promtail_stream_labels()
    for panel, target in _targets(dashboards["ccplane-run-logs"]):
        selector = re.search(r"\{([^}]*)\}", target["expr"])
        assert selector, target["expr"]
        matchers = dict(re.findall(r'(\w+)\s*(?:=~|!~|!=|=)\s*"([^"]*)"', selector[1]))
        assert matchers.get("app") == "ccplane", f"{panel['title']}: {target['expr']!r}"
        assert set(matchers) <= stream_labels, f"{panel['title']}: {sorted(set(matchers) - stream_labels)}"


# --------------------------------------------------------------------------- provisioning


def test_datasources_are_provisioned_with_the_dashboards_uids() -> None:
    config = _yaml(DATASOURCES)
    assert config["apiVersion"] == 1
    sources = {source["uid"]: source for source in config["datasources"]}
    assert sorted(sources) == ["loki", "prometheus"]
    assert sources["prometheus"]["type"] == "prometheus"
    assert sources["prometheus"]["url"] == "http://prometheus:9090"
    assert sources["loki"]["type"] == "loki"
    assert sources["loki"]["url"] == "http://loki:3100"
    assert [s["uid"] for s in config["datasources"] if s.get("isDefault")] == ["prometheus"]
    # Grafana expands ${...} in provisioning files from its environment: its own
    # link variables must be escaped as $${...}.
    for field in sources["loki"]["jsonData"].get("derivedFields", []):
        assert re.search(r"(?<!\$)\$\{", field["url"]) is None, field
        re.compile(field["matcherRegex"])


def test_loki_derived_fields_match_a_real_log_line() -> None:
    line = _log_line()
    (loki,) = [source for source in _yaml(DATASOURCES)["datasources"] if source["uid"] == "loki"]
    fields = {field["name"]: field for field in loki["jsonData"]["derivedFields"]}
    for name in ("run_id", "trace_id"):
        match = re.search(fields[name]["matcherRegex"], line)
        assert match and match[1] == json.loads(line)[name], (name, line)


def test_dashboard_provider_reads_the_mounted_directory() -> None:
    config = _yaml(PROVIDERS)
    assert config["apiVersion"] == 1
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert DASHBOARDS == GRAFANA / "dashboards"


# --------------------------------------------------------------------------- Loki and Promtail


def test_loki_config() -> None:
    config = _yaml(LOKI_CONFIG)
    assert config["auth_enabled"] is False
    assert config["server"]["http_listen_port"] == 3100
    (schema,) = config["schema_config"]["configs"]
    assert (schema["store"], schema["schema"], schema["object_store"]) == ("tsdb", "v13", "filesystem")
    datetime.strptime(str(schema["from"]), "%Y-%m-%d")
    limits = config["limits_config"]
    assert limits["allow_structured_metadata"] is True
    assert re.fullmatch(r"\d+[hd]", limits["retention_period"]), limits["retention_period"]
    compactor = config["compactor"]
    assert compactor["retention_enabled"] is True
    assert compactor["delete_request_store"] == "filesystem"
    assert config["common"]["storage"]["filesystem"]["chunks_directory"]


def _promtail_job() -> dict[str, Any]:
    config = _yaml(PROMTAIL_CONFIG)
    (job,) = config["scrape_configs"]
    return job


def _promtail_stream_labels() -> set[str]:
    job = _promtail_job()
    labels = {
        r["target_label"]
        for r in job["relabel_configs"]
        if "target_label" in r and not r["target_label"].startswith("__")
    }
    for stage in job["pipeline_stages"]:
        labels |= set(stage.get("labels") or {})
        labels |= set(stage.get("static_labels") or {})
    return labels


def test_promtail_ships_the_ccplane_containers_to_loki() -> None:
    config = _yaml(PROMTAIL_CONFIG)
    assert config["clients"] == [{"url": "http://loki:3100/loki/api/v1/push"}]
    assert config["positions"]["filename"].startswith(("/tmp/", "/var/lib/promtail/"))
    job = _promtail_job()
    (discovery,) = job["docker_sd_configs"]
    assert discovery["host"] == "unix:///var/run/docker.sock"
    (keep,) = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
    assert keep["source_labels"] == ["__meta_docker_container_label_com_docker_compose_service"]
    for service in SERVICES:
        assert re.fullmatch(keep["regex"], service), service
    for other in ("prometheus", "loki", "grafana", "promtail", "postgres", "alertmanager", "portal"):
        assert not re.fullmatch(keep["regex"], other), other
    (app,) = [r for r in job["relabel_configs"] if r.get("target_label") == "app"]
    assert app["replacement"] == "ccplane"


def test_promtail_parses_run_and_trace_ids_without_indexing_them() -> None:
    stages = _promtail_job()["pipeline_stages"]
    (parse,) = [stage["json"] for stage in stages if "json" in stage]
    expressions = parse["expressions"]
    for field in ("level", "service", "run_id", "trace_id", "msg"):
        assert expressions.get(field) == field, field
    labels = _promtail_stream_labels()
    assert {"app", "service", "level"} <= labels
    assert not labels & {"run_id", "trace_id", "span_id", "msg"}, "unbounded values as stream labels"
    (metadata,) = [stage["structured_metadata"] for stage in stages if "structured_metadata" in stage]
    assert set(metadata) == {"run_id", "trace_id"}


def test_promtail_reads_the_fields_the_services_log() -> None:
    # A line as common/logging.py writes it: every field the pipeline extracts
    # is there, and its timestamp parses as RFC 3339.
    record = json.loads(_log_line())
    stages = _promtail_job()["pipeline_stages"]
    (parse,) = [stage["json"] for stage in stages if "json" in stage]
    assert set(parse["expressions"].values()) <= set(record), sorted(
        set(parse["expressions"].values()) - set(record)
    )
    (timestamp,) = [stage["timestamp"] for stage in stages if "timestamp" in stage]
    assert timestamp["format"] in ("RFC3339", "RFC3339Nano")
    datetime.fromisoformat(record[timestamp["source"]].replace("Z", "+00:00"))
    assert record["level"] == "warning"


def _log_line() -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.contract.dashboards")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            "session ended",
            extra={
                "service": "executor",
                "run_id": "run_0123abcd",
                "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                "span_id": "00f067aa0ba902b7",
            },
        )
    finally:
        logger.removeHandler(handler)
    return stream.getvalue().strip()
