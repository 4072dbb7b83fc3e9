"""The deployment, for real: deploy/docker-compose.yml on a Docker engine (``make test-deploy``).

The image is built offline (a debootstrap base, a wheelhouse of the pinned
dependencies; tools/docker/images.py), the stand-ins of the override
(deploy/docker-compose.smoke.yml) from Debian's packages, and the real compose
file plus that override is brought up as project ``ccplane-smoke``, every
published port on 127.0.0.1. Through the gateway's published port the test
then checks that every service becomes healthy, the workbench loads, a run
waiting for an approval succeeds once approved, both control planes serve it
(and answer a run the other one owns), and Prometheus has every target up.
Everything is torn down (``down -v``) at the end, pass or fail; the images
stay, tagged by the hash of their inputs, for the next run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
import httpx
import pytest

from ccplane.v1 import common_pb2, human_loop_pb2, human_loop_pb2_grpc, runs_pb2, runs_pb2_grpc
from tools.docker import images

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROJECT = "ccplane-smoke"
# What the test starts: the real file's services but those the override leaves out, and the model.
LONG_LIVED = {
    "postgres",
    "control-plane",
    "executor-manager",
    "executor",
    "gateway",
    "prometheus",
    "alertmanager",
    "model",
}
ONE_SHOT = {"migrate", "objectstore-init"}
REPLICAS = {"control-plane": 2, "executor": 2}
HEALTHY_WITHIN_S = 300.0
RUN_WITHIN_S = 180.0

T = TypeVar("T")


def log(message: str) -> None:
    print(f"[smoke] {message}", file=sys.stderr, flush=True)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, every: float = 1.0) -> T:
    """``probe()``'s first truthy answer; fails naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            answer = probe()
        except (httpx.HTTPError, grpc.RpcError, subprocess.CalledProcessError) as exc:
            answer, last = None, exc
        if answer:
            return answer
        time.sleep(every)
    pytest.fail(f"{what}: not within {timeout:.0f} s (last error: {last})")


@dataclass
class Stack:
    compose: list[str]
    env: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    def run(self, *args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.compose, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
            cwd=ROOT,
        )

    def containers(self, service: str) -> list[dict[str, Any]]:
        ids = self.run("ps", "-q", service).stdout.split()
        if not ids:
            return []
        inspected = subprocess.run(
            ["docker", "inspect", *ids], capture_output=True, text=True, check=True
        ).stdout
        result: list[dict[str, Any]] = json.loads(inspected)
        return result

    def published(self, service: str, port: int, index: int = 1) -> str:
        """``127.0.0.1:PORT`` the engine published ``port`` of replica ``index`` on."""
        out = self.run("port", f"--index={index}", service, str(port)).stdout.strip()
        assert out.startswith("127.0.0.1:"), f"{service}:{port} is published on {out!r}, not loopback only"
        return out


def ccplane_images() -> dict[str, str]:
    """Every image the stack needs, built (or found) offline; their tags."""
    timings: dict[str, float] = {}

    def timed(name: str, build: Callable[[], T]) -> T:
        started = time.monotonic()
        result = build()
        timings[name] = time.monotonic() - started
        return result

    timed("engine", images.ensure_engine)
    base = timed("base image", images.base_image)
    tags = {"image": timed("ccplane image", lambda: images.ccplane_image(base))}
    tags |= timed("smoke images", lambda: images.smoke_images(base))
    log("built in " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items()))
    return tags


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    started = time.monotonic()
    tags = ccplane_images()
    built = time.monotonic()
    # The executors advertise their container address (CCPLANE_EXECUTOR_ADVERTISE_HOST
    # unset: the address of the host name): the image must know the setting.
    help_text = subprocess.run(
        ["docker", "run", "--rm", tags["image"], "executor", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "CCPLANE_EXECUTOR_ADVERTISE_HOST" in help_text
    # The compose file's settings come from deploy/.env.example, not from this machine's environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CCPLANE_", "OTEL_", "AWS_"))}
    env |= {
        "CCPLANE_IMAGE": tags["image"],
        "CCPLANE_SMOKE_POSTGRES_IMAGE": tags["postgres"],
        "CCPLANE_SMOKE_PROMETHEUS_IMAGE": tags["prometheus"],
        "CCPLANE_SMOKE_ALERTMANAGER_IMAGE": tags["alertmanager"],
        # The scripted model's name: runs get its model catalogue.
        "CCPLANE_MODEL": "ccplane-scripted",
        "CCPLANE_EXECUTORS": str(REPLICAS["executor"]),
    }
    # Loopback only, on ports of the engine's choosing.
    for name in ("GATEWAY", "ENVOY", "PROMETHEUS", "ALERTMANAGER", "GRAFANA"):
        env[f"CCPLANE_PUBLISH_{name}"] = "127.0.0.1:"
    compose = [
        "docker-compose",
        "-f",
        str(DEPLOY / "docker-compose.yml"),
        "-f",
        str(DEPLOY / "docker-compose.smoke.yml"),
        "--env-file",
        str(DEPLOY / ".env.example"),
        "-p",
        PROJECT,
    ]
    smoke = Stack(compose, env)
    smoke.run("down", "--volumes", "--remove-orphans", timeout=180, check=False)  # a killed run's leftovers
    try:
        up = smoke.run("up", "--detach", timeout=HEALTHY_WITHIN_S, check=False)
        assert up.returncode == 0, f"docker-compose up failed:\n{up.stderr[-4000:]}"
        smoke.timings = {"images": built - started, "up": time.monotonic() - built}
        yield smoke
    finally:
        if sys.exc_info()[0] is not None or os.environ.get("CCPLANE_SMOKE_LOGS"):
            logs = smoke.run("logs", "--no-color", "--tail=80", check=False, timeout=60)
            log("logs:\n" + logs.stdout[-20000:])
        down_started = time.monotonic()
        smoke.run("down", "--volumes", "--remove-orphans", timeout=180, check=False)
        log(f"torn down in {time.monotonic() - down_started:.0f} s; total {time.monotonic() - started:.0f} s")


@pytest.fixture(scope="module")
def gateway(stack: Stack) -> str:
    return "http://" + stack.published("gateway", 3001)


@pytest.fixture(scope="module")
def admin_key(stack: Stack) -> str:
    """An admin key, made the way the README says: a one-off `ccplane api-keys create`."""
    created = stack.run(
        "run", "--rm", "-T", "--no-deps", "migrate", "api-keys", "create", "--tenant", "default", "--admin",
        "--name", "smoke",
    )  # fmt: skip
    match = re.search(r"^(ccp_\S+)$", created.stdout, re.M)
    assert match, created.stdout + created.stderr
    return match.group(1)


def test_every_service_becomes_healthy(stack: Stack) -> None:
    started = time.monotonic()

    def all_healthy() -> bool:
        for service in LONG_LIVED:
            containers = stack.containers(service)
            if len(containers) != REPLICAS.get(service, 1):
                return False
            for container in containers:
                health = container["State"].get("Health", {}).get("Status")
                if health != "healthy":
                    assert container["State"]["Status"] == "running", f"{service} is {container['State']}"
                    return False
        for service in ONE_SHOT:
            (container,) = stack.containers(service)
            state = container["State"]
            if state["Status"] != "exited":
                return False
            assert state["ExitCode"] == 0, f"{service} exited with {state['ExitCode']}"
        return True

    wait_for("every service healthy", all_healthy, HEALTHY_WITHIN_S, every=2.0)
    stack.timings["healthy"] = stack.timings["up"] + time.monotonic() - started
    log("timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in stack.timings.items()))
    # What the override leaves out is not running.
    for service in ("rustfs", "envoy", "grafana", "loki", "promtail"):
        assert stack.containers(service) == []


def test_the_workbench_loads(gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=10) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert '<div id="root">' in page.text
        for asset in re.findall(r'(?:src|href)="(/assets/[^"]+)"', page.text):
            assert client.get(asset).status_code == 200, asset
        # A route of the single-page app, served by the same page.
        assert client.get("/inbox").status_code == 200
        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "SERVING"


def _approve_when_asked(
    ask: Callable[[], list[dict[str, Any]]], answer: Callable[[str], None], run_id: str
) -> str:
    question_id: str = wait_for(
        f"{run_id} waits for an approval",
        lambda: next((r["questionId"] for r in ask() if r.get("runId") == run_id), None),
        RUN_WITHIN_S,
    )
    answer(question_id)
    return question_id


def test_a_run_with_an_approval_succeeds(gateway: str, admin_key: str, stack: Stack) -> None:
    headers = {"authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=gateway, headers=headers, timeout=30) as client:
        created = client.post(
            "/api/runs",
            json={
                "prompt": "[scenario:approve] touch a file, once allowed",
                "settings": {"approvalMode": "APPROVAL_MODE_UNTRUSTED"},
            },
        )
        assert created.status_code == 200, created.text
        run_id = created.json()["run"]["id"]

        def pending() -> list[dict[str, Any]]:
            answer = client.get("/api/human-loop/pending", params={"runId": run_id})
            answer.raise_for_status()
            requests: list[dict[str, Any]] = answer.json().get("requests", [])
            return requests

        def approve(question_id: str) -> None:
            reply = client.post(
                f"/api/runs/{run_id}/human-loop/{question_id}/reply",
                json={"approval": {"decision": "APPROVAL_DECISION_ACCEPT"}},
            )
            assert reply.status_code == 200, reply.text

        _approve_when_asked(pending, approve, run_id)
        run = wait_for(
            f"{run_id} finishes",
            lambda: (
                (r := client.get(f"/api/runs/{run_id}").json()["run"])["status"]
                not in {
                    "RUN_STATUS_QUEUED",
                    "RUN_STATUS_STARTING",
                    "RUN_STATUS_RUNNING",
                    "RUN_STATUS_WAITING_HUMAN",
                }
                and r
            ),
            RUN_WITHIN_S,
        )
        assert run["status"] == "RUN_STATUS_SUCCEEDED", run
        events = client.get(f"/api/runs/{run_id}/events:list").json()["events"]
        types = [event["type"] for event in events]
        assert "human_loop.requested" in types and "human_loop.resolved" in types, types
        assert [int(event["seq"]) for event in events] == list(range(1, len(events) + 1))
        # The approved command ran, in Codex's sandbox (bubblewrap inside the executor's container).
        (completed,) = [e["commandCompleted"] for e in events if e["type"] == "command.completed"]
        assert completed["status"] == "COMMAND_STATUS_COMPLETED", completed
        assert completed["exitCode"] == 0 and completed["output"] == "approved\n", completed
        # Its change reached the object store the control planes read.
        files = client.get(f"/api/workspaces/{run['workspaceId']}/files").json()["entries"]
        assert "approved.txt" in [entry["path"] for entry in files], files
    # Both control planes serve the run, from the one database.
    for index in (1, 2):
        with _control_plane(stack, index, admin_key) as (runs, _):
            got = runs.GetRun(runs_pb2.GetRunRequest(run_id=run_id), timeout=10)
            assert got.run.status == common_pb2.RUN_STATUS_SUCCEEDED
            listed = runs.ListRunEvents(runs_pb2.ListRunEventsRequest(run_id=run_id), timeout=10)
            assert [e.type for e in listed.events] == types


@contextlib.contextmanager
def _control_plane(
    stack: Stack, index: int, key: str
) -> Iterator[tuple[runs_pb2_grpc.RunServiceStub, human_loop_pb2_grpc.HumanLoopServiceStub]]:
    """Stubs for control-plane replica ``index`` (its published gRPC port), with ``key``."""
    channel = grpc.insecure_channel(stack.published("control-plane", 50051, index))
    intercepted = grpc.intercept_channel(channel, _Bearer(key))
    try:
        yield runs_pb2_grpc.RunServiceStub(intercepted), human_loop_pb2_grpc.HumanLoopServiceStub(intercepted)
    finally:
        channel.close()


class _Bearer(grpc.UnaryUnaryClientInterceptor):
    def __init__(self, key: str) -> None:
        self._metadata = (("authorization", f"Bearer {key}"),)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        metadata = (*(details.metadata or ()), *self._metadata)
        return continuation(details._replace(metadata=metadata), request)


def test_each_control_plane_answers_for_runs_the_other_owns(stack: Stack, admin_key: str) -> None:
    """A run created through one replica, approved through the other."""
    with (
        _control_plane(stack, 1, admin_key) as (runs_one, _),
        _control_plane(stack, 2, admin_key) as (runs_two, human_two),
    ):
        settings = runs_pb2.RunSettings(approval_mode=runs_pb2.APPROVAL_MODE_UNTRUSTED)
        created = runs_one.CreateRun(
            runs_pb2.CreateRunRequest(prompt="[scenario:approve] across control planes", settings=settings),
            timeout=30,
        )
        run_id = created.run.id

        def pending() -> list[dict[str, Any]]:
            listed = human_two.ListPendingRequests(
                human_loop_pb2.ListPendingRequestsRequest(run_id=run_id), timeout=10
            )
            return [{"runId": r.run_id, "questionId": r.question_id} for r in listed.requests]

        def approve(question_id: str) -> None:
            accept = human_loop_pb2.ApprovalAnswer(decision=human_loop_pb2.APPROVAL_DECISION_ACCEPT)
            human_two.Reply(
                human_loop_pb2.ReplyRequest(run_id=run_id, question_id=question_id, approval=accept),
                timeout=30,
            )

        _approve_when_asked(pending, approve, run_id)
        finished = {
            common_pb2.RUN_STATUS_SUCCEEDED,
            common_pb2.RUN_STATUS_FAILED,
            common_pb2.RUN_STATUS_CANCELED,
        }
        run = wait_for(
            f"{run_id} finishes",
            lambda: (
                (r := runs_two.GetRun(runs_pb2.GetRunRequest(run_id=run_id), timeout=10).run).status
                in finished
                and r
            ),
            RUN_WITHIN_S,
        )
        assert run.status == common_pb2.RUN_STATUS_SUCCEEDED, run


def test_prometheus_has_every_target_up(stack: Stack, admin_key: str) -> None:
    prometheus = "http://" + stack.published("prometheus", 9090)
    expected = {
        "ccplane-control-plane": REPLICAS["control-plane"],
        "ccplane-executor-manager": 1,
        "ccplane-gateway": 1,
        "ccplane-executor": REPLICAS["executor"],
    }

    def all_up() -> dict[str, list[str]] | None:
        targets = httpx.get(f"{prometheus}/api/v1/targets", params={"state": "active"}, timeout=10).json()
        by_job: dict[str, list[str]] = {}
        for target in targets["data"]["activeTargets"]:
            by_job.setdefault(target["labels"]["job"], []).append(target["health"])
        if {job: len(health) for job, health in by_job.items()} != expected:
            return None
        return by_job if all(h == "up" for health in by_job.values() for h in health) else None

    up = wait_for("every Prometheus target up", all_up, 90.0, every=2.0)
    log(f"prometheus targets: {up}")
    # The rules are loaded, and Alertmanager is its alerting target.
    rules = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    assert sum(len(group["rules"]) for group in rules) > 0
    managers = httpx.get(f"{prometheus}/api/v1/alertmanagers", timeout=10).json()["data"]
    assert any(":9093" in am["url"] for am in managers["activeAlertmanagers"]), managers
