"""Errors through the gateway: gRPC statuses mapped to HTTP with google.rpc.Status JSON bodies,
and the requests the gateway refuses itself (400 naming the field, 404, 405, 413)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from common import ids
from tests.integration.gateway.conftest import MAX_BODY_BYTES, CreateRun


def _detail(document: dict[str, Any], kind: str) -> dict[str, Any]:
    for detail in document.get("details", []):
        if detail["@type"] == f"type.googleapis.com/google.rpc.{kind}":
            return dict(detail)
    raise AssertionError(f"no {kind} in {document}")


def _bad_field(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["code"] == 3  # INVALID_ARGUMENT
    (violation,) = _detail(document, "BadRequest")["fieldViolations"]
    assert violation["field"] in document["message"]
    return str(violation["field"])


async def test_invalid_argument_from_the_control_plane_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/runs", json={"prompt": ""})
    assert _bad_field(response) == "prompt"
    assert _detail(response.json(), "ErrorInfo")["domain"] == "ccplane.dev"


async def test_not_found_is_404(client: httpx.AsyncClient) -> None:
    missing = f"{ids.RUN}_{'0' * 26}"
    response = await client.get(f"/api/runs/{missing}")
    assert response.status_code == 404
    document = response.json()
    assert document["code"] == 5
    assert _detail(document, "ErrorInfo")["reason"] == "RUN_NOT_FOUND"


async def test_already_exists_is_409(client: httpx.AsyncClient) -> None:
    key = f"req-{ids.new_ulid()}"
    assert (await client.post("/api/runs", json={"prompt": "one", "requestId": key})).status_code == 200
    response = await client.post("/api/runs", json={"prompt": "another", "requestId": key})
    assert response.status_code == 409
    assert response.json()["code"] == 6


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"prompt": "hi",', "body"),
        (b"[1, 2]", "body"),
        (b'{"prompt": "hi", "colour": "blue"}', "colour"),
        (b'{"prompt": "hi", "settings": {"approvalMode": "SOMETIMES"}}', "settings.approvalMode"),
        (
            b'{"prompt": "hi", "settings": {"mcpServers": {"fs": {"cmd": "x"}}}}',
            'settings.mcpServers["fs"].cmd',
        ),
        (b'{"prompt": "hi", "settings": []}', "settings"),
        (b'{"prompt": "hi", "labels": ["a"]}', "labels"),
        (b'{"prompt": 5}', "prompt"),
        (b'{"prompt": "hi", "requireHumanLoop": "yes"}', "requireHumanLoop"),
        (b'{"prompt": "hi", "settings": {"humanLoopTimeout": "soon"}}', "settings.humanLoopTimeout"),
        (b'{"prompt": "hi", "request_id": "a", "requestId": "b"}', "requestId"),
    ],
)
async def test_bad_bodies_are_400_naming_the_field(
    client: httpx.AsyncClient, body: bytes, field: str
) -> None:
    response = await client.post("/api/runs", content=body, headers={"content-type": "application/json"})
    assert _bad_field(response) == field


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=RUN_STATUS_NOPE", "status"),
        ("pageSize=ten", "pageSize"),
        ("page_size=99999999999", "page_size"),
        ("colour=blue", "colour"),
        ("status.x=1", "status.x"),
    ],
)
async def test_bad_query_parameters_are_400_naming_the_field(
    client: httpx.AsyncClient, query: str, field: str
) -> None:
    assert _bad_field(await client.get(f"/api/runs?{query}")) == field


async def test_body_and_path_disagreeing_is_400(client: httpx.AsyncClient, create_run: CreateRun) -> None:
    run_id = await create_run()
    other = f"{ids.RUN}_{'0' * 26}"
    response = await client.post(f"/api/runs/{run_id}/messages", json={"runId": other, "text": "hi"})
    assert _bad_field(response) == "run_id"
    same = await client.post(f"/api/runs/{run_id}/stop", json={"runId": run_id})
    assert same.status_code == 200


async def test_unknown_path_is_404_and_wrong_method_405(client: httpx.AsyncClient) -> None:
    unknown = await client.get("/api/nothing/here")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == 5
    assert _detail(unknown.json(), "ErrorInfo")["reason"] == "ROUTE_NOT_FOUND"

    wrong = await client.delete("/api/runs")
    assert wrong.status_code == 405
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "POST"}
    assert wrong.json()["code"] == 12


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    big = b'{"prompt": "' + b"x" * MAX_BODY_BYTES + b'"}'
    declared = await client.post("/api/runs", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413
    assert declared.json()["code"] == 8

    async def chunked() -> Any:  # no content-length: counted while reading
        yield big[: len(big) // 2]
        yield big[len(big) // 2 :]

    streamed = await client.post("/api/runs", content=chunked())
    assert streamed.status_code == 413
    assert _detail(streamed.json(), "ErrorInfo")["reason"] == "REQUEST_TOO_LARGE"
