"""The proto contracts: buf lint is clean, gen/ is fresh, required names exist."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from tools import protogen

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "tools" / "node_modules" / ".bin" / "buf"


def test_buf_lint_is_clean() -> None:
    assert BUF.exists(), "buf is missing: `make install` installs it from npm"
    protogen.fill_buf_deps(ROOT / ".buf-deps")
    result = subprocess.run(
        [str(BUF), "lint"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    protogen.generate(tmp_path)
    committed = ROOT / "gen"
    assert _tree(tmp_path) == _tree(committed), "gen/ has missing or extra files: run `make gen`"
    stale = [
        name for name in sorted(_tree(tmp_path)) if not filecmp.cmp(tmp_path / name, committed / name, False)
    ]
    assert stale == [], f"gen/ is stale, run `make gen`: {stale}"


def _descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    return descriptor_pb2.FileDescriptorSet.FromString((ROOT / "gen" / "ccplane.binpb").read_bytes())


def _http_rules() -> dict[str, list[tuple[str, str]]]:
    rules: dict[str, list[tuple[str, str]]] = {}
    for file in _descriptor_set().file:
        if file.package != "ccplane.v1":
            continue
        for service in file.service:
            for method in service.method:
                if not method.options.HasExtension(annotations_pb2.http):
                    continue
                rule = method.options.Extensions[annotations_pb2.http]
                bindings = [rule, *rule.additional_bindings]
                pairs = []
                for b in bindings:
                    verb = b.WhichOneof("pattern")
                    pairs.append((verb.upper(), getattr(b, verb)))
                rules[f"{service.name}.{method.name}"] = pairs
    return rules


def test_descriptor_set_has_services_and_rpc_status() -> None:
    files = {f.name for f in _descriptor_set().file}
    assert {"google/rpc/status.proto", "google/rpc/error_details.proto", "google/api/http.proto"} <= files
    services = {f"{f.package}.{s.name}" for f in _descriptor_set().file for s in f.service}
    assert {
        "ccplane.v1.RunService",
        "ccplane.v1.HumanLoopService",
        "ccplane.v1.ExecutorService",
        "ccplane.v1.ExecutorManagerService",
        "ccplane.v1.WorkspaceService",
        "ccplane.v1.ReconcileService",
    } <= services


REQUIRED_ROUTES = [
    ("POST", "/api/runs"),
    ("POST", "/api/runs/start"),
    ("GET", "/api/runs"),
    ("GET", "/api/runs/{run_id}"),
    ("POST", "/api/runs/{run_id}/stop"),
    ("POST", "/api/runs/{run_id}/messages"),
    ("GET", "/api/runs/{run_id}/events"),
    ("GET", "/api/runs/{run_id}/todos"),
    ("GET", "/api/runs/{run_id}/todos/events"),
    ("GET", "/api/human-loop/pending"),
    ("GET", "/api/human-loop/requests/{question_id}"),
    ("POST", "/api/human-loop/reply"),
    ("POST", "/api/runs/{run_id}/human-loop/{question_id}/reply"),
    ("POST", "/api/workspaces"),
    ("GET", "/api/workspaces"),
    ("GET", "/api/workspaces/{workspace_id}"),
    ("GET", "/api/workspaces/{workspace_id}/files"),
    ("GET", "/api/workspaces/{workspace_id}/file"),
    ("PUT", "/api/workspaces/{workspace_id}/file"),
    ("POST", "/api/workspaces/{workspace_id}/files:rename"),
    ("DELETE", "/api/workspaces/{workspace_id}/file"),
    ("GET", "/api/workspaces/{workspace_id}/audit"),
    ("POST", "/api/reconcile/runs"),
    ("POST", "/api/reconcile/human-loop-timeout"),
    ("GET", "/api/reconcile/metrics"),
]


@pytest.mark.parametrize(("verb", "path"), REQUIRED_ROUTES)
def test_required_rest_route_is_annotated(verb: str, path: str) -> None:
    routes = {pair for pairs in _http_rules().values() for pair in pairs}
    assert (verb, path) in routes


def test_same_rpc_behind_legacy_paths() -> None:
    rules = _http_rules()
    assert ("POST", "/api/runs/start") in rules["RunService.CreateRun"]
    assert ("POST", "/api/runs/{run_id}/human-loop/{question_id}/reply") in rules["HumanLoopService.Reply"]


def test_internal_and_bidi_rpcs_have_no_http_rule() -> None:
    rules = _http_rules()
    assert not [name for name in rules if name.startswith(("ExecutorService.", "ExecutorManagerService."))]
    assert "RunService.Connect" not in rules
