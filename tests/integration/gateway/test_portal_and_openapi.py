"""The built portal at / (single-page-app fallback) and the OpenAPI document at /api/openapi.json."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from control_plane.app import ControlPlane
from gateway import Gateway
from tests.contract.test_proto_contracts import REQUIRED_ROUTES

# The gateway's own routes, beside the contract's (tests/contract REQUIRED_ROUTES).
GATEWAY_ROUTES = [
    ("POST", "/api/workspaces/{workspace_id}/files:upload"),
    ("GET", "/api/session"),
    ("POST", "/api/session"),
    ("DELETE", "/api/session"),
]
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _refs(node: object) -> Iterator[str]:
    """Every ``$ref`` anywhere in ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(document: dict[str, Any], ref: str) -> object:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    node: object = document
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


async def test_openapi_document_is_served(client: httpx.AsyncClient, anonymous: httpx.AsyncClient) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] and document["info"]["version"]

    # Every route of the plan and of the gateway, each with its own operation id.
    paths = document["paths"]
    served = {(method.upper(), path) for path, item in paths.items() for method in item}
    assert set(REQUIRED_ROUTES) | set(GATEWAY_ROUTES) <= served
    operations = [(method.upper(), path, op) for path, item in paths.items() for method, op in item.items()]
    assert {method.lower() for method, _, _ in operations} <= HTTP_METHODS
    operation_ids = [op["operationId"] for _, _, op in operations]
    assert len(operation_ids) == len(set(operation_ids)), "operation ids are unique"

    for method, path, op in operations:
        where = f"{method} {path}"
        # Each path variable is a required path parameter, and nothing else is.
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{([^}]+)}", path)), where
        assert all(p["required"] for p in op.get("parameters", []) if p["in"] == "path"), where
        # A success and an error answer; errors are google.rpc.Status.
        assert "200" in op["responses"], where
        error = op["responses"]["default"]["content"]["application/json"]["schema"]
        assert _resolve(document, error["$ref"]) == document["components"]["schemas"]["google.rpc.Status"]

    # Streams answer Server-Sent Events whose data is the streamed message.
    for path, message in [
        ("/api/runs/{run_id}/events", "ccplane.v1.RunEvent"),
        ("/api/runs/{run_id}/todos/events", "ccplane.v1.StreamTodoEventsResponse"),
        ("/api/human-loop/events", None),
    ]:
        content = paths[path]["get"]["responses"]["200"]["content"]
        assert list(content) == ["text/event-stream"], path
        data = content["text/event-stream"]["schema"]["else"]["properties"]["data"]["contentSchema"]
        if message is not None:
            assert data == {"$ref": f"#/components/schemas/{message}"}, path
    create = paths["/api/runs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert _resolve(document, create["$ref"])["properties"]["prompt"]["type"] == "string"  # type: ignore[index]

    # Every reference resolves, and every schema is referenced by something.
    schemas = document["components"]["schemas"]
    assert schemas
    refs = set(_refs(document))
    for ref in refs:
        _resolve(document, ref)
    assert {f"#/components/schemas/{name}" for name in schemas} <= refs, "no orphan schema"

    # Security: both schemes, required everywhere but on signing in.
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiKey"]["type"] == "http" and schemes["apiKey"]["scheme"] == "bearer"
    assert (schemes["sessionCookie"]["type"], schemes["sessionCookie"]["in"]) == ("apiKey", "cookie")
    assert schemes["sessionCookie"]["name"] == "ccplane_session"
    assert document["security"] == [{"apiKey": []}, {"sessionCookie": []}]
    for requirement in document["security"]:
        assert set(requirement) <= set(schemes)
    public = [(method, path) for method, path, op in operations if op.get("security") == []]
    assert public == [("POST", "/api/session")], "only signing in goes without a credential"
    assert all("security" not in op for method, path, op in operations if (method, path) not in public)
    # ...and the gateway enforces what the document says.
    refused = await anonymous.get("/api/runs")
    assert refused.status_code == 401
    assert (await client.get("/api/runs")).status_code == 200


async def test_portal_is_served_with_spa_fallback(
    control_plane: ControlPlane, tmp_path: Path, admin_key: str
) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>ccplane</title>")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.js").write_text("console.log('ccplane')")
    gateway = Gateway(control_plane.address, portal_dir=tmp_path)
    await gateway.start()
    try:
        async with httpx.AsyncClient(
            base_url=gateway.url, timeout=10.0, headers={"authorization": f"Bearer {admin_key}"}
        ) as http:
            index = await http.get("/")
            assert index.status_code == 200 and "<title>ccplane</title>" in index.text
            assert index.headers["cache-control"] == "no-cache", "a new build must show at once"
            asset = await http.get("/assets/app.js")
            assert asset.status_code == 200 and "console.log" in asset.text
            assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
            deep_link = await http.get("/runs/run_123")
            assert deep_link.status_code == 200 and "<title>ccplane</title>" in deep_link.text
            assert deep_link.headers["cache-control"] == "no-cache"
            api_miss = await http.get("/api/not-a-route")
            assert api_miss.status_code == 404
            assert api_miss.headers["content-type"] == "application/json"
            assert (await http.get("/api/runs")).status_code == 200
    finally:
        await gateway.stop()


async def test_without_a_portal_only_the_api_answers(client: httpx.AsyncClient) -> None:
    assert (await client.get("/")).status_code == 404
