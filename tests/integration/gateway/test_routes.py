"""Every annotated REST route answers through the gateway, with proto3 JSON as Envoy prints it."""

from __future__ import annotations

import re
import secrets

import httpx
import pytest

from common import ids
from gateway import Gateway
from tests.contract.test_proto_contracts import REQUIRED_ROUTES
from tests.integration.gateway.conftest import CreateRun

UNKNOWN_QUESTION = f"{ids.QUESTION}_{'0' * 26}"


def _fill(path: str, run_id: str) -> str:
    return (
        path.replace("{run_id}", run_id)
        .replace("{question_id}", UNKNOWN_QUESTION)
        .replace("{workspace_id}", f"{ids.WORKSPACE}_{'0' * 26}")
    )


@pytest.mark.parametrize(("verb", "template"), REQUIRED_ROUTES)
async def test_required_route_answers(
    client: httpx.AsyncClient, finished_run: str, verb: str, template: str
) -> None:
    path = _fill(template, finished_run)
    body = {"prompt": "hello"} if template in ("/api/runs", "/api/runs/start") else {}
    if template == "/api/human-loop/reply":
        body = {"runId": finished_run, "questionId": UNKNOWN_QUESTION, "text": "yes"}
    response = await client.request(verb, path, json=body if verb in ("POST", "PUT") else None)
    document = response.json() if response.headers["content-type"] == "application/json" else None
    if template.startswith("/api/workspaces"):
        if response.status_code == 501:  # WorkspaceService is not implemented yet
            assert document["code"] == 12
            assert document["details"][0]["reason"] == "UNIMPLEMENTED"
            return
        assert response.status_code < 500, response.text
        return
    assert response.status_code not in (405, 500, 501), response.text
    if response.status_code == 404:  # routed: the control plane's NOT_FOUND, not the router's
        assert document["details"][0]["reason"] != "ROUTE_NOT_FOUND", response.text
    if template.endswith("/events"):
        assert response.headers["content-type"] == "text/event-stream"


async def test_create_run_on_both_paths_is_one_rpc(client: httpx.AsyncClient) -> None:
    key = f"req-{ids.new_ulid()}"
    first = await client.post("/api/runs", json={"prompt": "hi", "requestId": key})
    again = await client.post("/api/runs/start", json={"prompt": "hi", "request_id": key})
    assert first.status_code == again.status_code == 200
    assert first.json()["run"]["id"] == again.json()["run"]["id"]


async def test_run_json_is_proto3_json_as_envoy_prints_it(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/runs",
        json={
            "prompt": "hi",
            "labels": {"team": "infra"},
            "settings": {"approvalMode": "APPROVAL_MODE_NEVER"},
        },
    )
    assert response.headers["content-type"] == "application/json"
    text = response.text
    assert ": " not in text and "\n" not in text, "no whitespace"
    run = response.json()["run"]
    assert run["status"] == "RUN_STATUS_QUEUED"  # enums by name
    assert run["lastSeq"] == "1"  # int64 as a string, lowerCamelCase
    assert run["settings"]["approvalMode"] == "APPROVAL_MODE_NEVER"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", run["createdAt"])
    for default_valued in ("error", "threadId", "requireHumanLoop", "executorId", "startedAt"):
        assert default_valued not in run


async def test_list_runs_query_parameters(client: httpx.AsyncClient, create_run: CreateRun) -> None:
    queued = await create_run()
    canceled = await create_run()
    assert (await client.post(f"/api/runs/{canceled}/stop", json={})).status_code == 200

    both = await client.get("/api/runs?status=RUN_STATUS_QUEUED&status=RUN_STATUS_CANCELED&page_size=500")
    assert both.status_code == 200
    runs = both.json()["runs"]
    assert {queued, canceled} <= {r["id"] for r in runs}
    assert {r["status"] for r in runs} <= {"RUN_STATUS_QUEUED", "RUN_STATUS_CANCELED"}

    by_number = await client.get("/api/runs", params={"status": "7", "pageSize": "500"})
    ids_canceled = {r["id"] for r in by_number.json()["runs"]}
    assert canceled in ids_canceled and queued not in ids_canceled

    for name in ("page_size", "pageSize"):  # proto name and JSON name, as Envoy accepts
        page = await client.get("/api/runs", params={name: "1"})
        assert page.status_code == 200
        assert len(page.json()["runs"]) == 1
        assert page.json()["nextPageToken"]


async def test_path_variable_with_reserved_characters_is_decoded(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/runs/run%2Fx")
    assert response.status_code == 400
    assert "run_id" in response.json()["message"]


async def test_healthz_and_metrics(client: httpx.AsyncClient, gateway: Gateway) -> None:
    health = await client.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "SERVING", "controlPlane": "SERVING"}
    await client.get("/api/runs/run_nope")
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert re.search(
        r'ccplane_gateway_requests_total\{method="GET",route="/api/runs/\{run_id\}",status="400"\} [1-9]',
        metrics.text,
    )
    assert 'ccplane_gateway_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz"}' in (
        metrics.text
    )
    assert "ccplane_gateway_open_streams" in metrics.text


async def test_traceparent_reaches_the_control_plane(client: httpx.AsyncClient) -> None:
    trace_id = secrets.token_hex(16)
    headers = {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
    response = await client.post("/api/runs", json={"prompt": "traced"}, headers=headers)
    assert response.status_code == 200
    assert response.json()["run"]["traceId"] == trace_id
