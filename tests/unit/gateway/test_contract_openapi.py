"""The contract as the gateway derives it, and the OpenAPI document generated from it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.contract import Contract
from gateway.openapi import build_openapi
from gateway.sse import frame, stream_shape
from tests.contract.test_proto_contracts import REQUIRED_ROUTES


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract.load()


@pytest.fixture(scope="module")
def document(contract: Contract) -> dict[str, Any]:
    return build_openapi(contract)


def test_every_required_route_is_derived(contract: Contract) -> None:
    derived = {(b.http_method, b.template.source) for b in contract.bindings}
    assert set(REQUIRED_ROUTES) <= derived
    assert contract.services == [
        "ccplane.v1.HumanLoopService",
        "ccplane.v1.RunService",
        "ccplane.v1.ReconcileService",
        "ccplane.v1.SessionService",
        "ccplane.v1.WorkspaceService",
    ]


def test_lookup_prefers_literals_and_reports_allowed_methods(contract: Contract) -> None:
    start, _ = contract.lookup("POST", "/api/runs/start")
    assert start is not None and start.binding.operation_id == "RunService_CreateRun_2"
    get, _ = contract.lookup("GET", "/api/runs/start")
    assert get is not None and get.binding.method.name == "GetRun" and get.path_values == {"run_id": "start"}
    reply, _ = contract.lookup("POST", "/api/runs/r1/human-loop/q1/reply")
    assert reply is not None and reply.path_values == {"run_id": "r1", "question_id": "q1"}
    rename, _ = contract.lookup("POST", "/api/workspaces/ws_1/files:rename")
    assert rename is not None and rename.binding.method.name == "RenameFile"
    assert contract.lookup("PATCH", "/api/runs") == (None, ["POST", "GET"])
    assert contract.lookup("GET", "/api/nothing") == (None, [])


def test_openapi_document_is_valid(document: dict[str, Any]) -> None:
    import openapi_spec_validator as validator

    validator.validate(document)
    assert document["openapi"].startswith("3.1")
    json.dumps(document)


def test_openapi_paths_parameters_and_bodies(document: dict[str, Any], contract: Contract) -> None:
    operations = {op["operationId"]: op for path in document["paths"].values() for op in path.values()}
    assert len(operations) == len(contract.bindings) + 3, (
        "every binding, the gateway's upload and session routes"
    )
    assert "/api/workspaces/{workspace_id}/files:rename" in document["paths"]

    list_runs = operations["RunService_ListRuns"]
    params = {p["name"]: p for p in list_runs["parameters"]}
    assert set(params) == {"page_size", "page_token", "status", "workspace_id", "thread_id"}
    assert params["status"]["schema"]["type"] == "array"
    assert "RUN_STATUS_QUEUED" in params["status"]["schema"]["items"]["enum"]

    stop = operations["RunService_StopRun"]
    assert [(p["name"], p["in"], p["required"]) for p in stop["parameters"]] == [("run_id", "path", True)]
    body = stop["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"reason", "requestId"}, "run_id is bound by the path"

    create = operations["RunService_CreateRun"]
    assert "parameters" not in create, 'body "*" leaves nothing to the query'
    schema = create["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ccplane.v1.CreateRunRequest"}

    for op in operations.values():
        error = op["responses"]["default"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/google.rpc.Status"}

    assert document["security"] == [{"apiKey": []}, {"sessionCookie": []}], "a key or a session, always"
    sign_in = document["paths"]["/api/session"]["post"]
    assert sign_in["security"] == [], "signing in is how a browser gets its credential"
    assert sign_in["requestBody"]["content"]["application/json"]["schema"]["required"] == ["apiKey"]
    assert set(document["paths"]["/api/session"]) == {"get", "post", "delete"}
    assert document["components"]["securitySchemes"]["sessionCookie"]["in"] == "cookie"
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["apiKey"]["description"],
    }


def test_openapi_schemas_are_proto3_json(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    run = schemas["ccplane.v1.Run"]["properties"]
    assert run["lastSeq"]["type"] == "string" and run["lastSeq"]["format"] == "int64"
    assert run["status"]["allOf"] == [{"$ref": "#/components/schemas/ccplane.v1.RunStatus"}]
    assert run["status"]["readOnly"] is True
    assert run["labels"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert schemas["ccplane.v1.RunStatus"]["type"] == "string"
    assert schemas["google.protobuf.Timestamp"] == {"type": "string", "format": "date-time"}
    assert set(schemas["google.rpc.Status"]["properties"]) == {"code", "message", "details"}
    assert "google.rpc.ErrorInfo" not in schemas or schemas["google.rpc.ErrorInfo"]
    for name, schema in schemas.items():
        if schema.get("type") == "object" and "properties" in schema:
            for prop in schema["properties"]:
                assert "_" not in prop, f"{name}.{prop} is not lowerCamelCase"


def test_streams_are_documented_as_event_streams(document: dict[str, Any]) -> None:
    events = document["paths"]["/api/runs/{run_id}/events"]["get"]
    content = events["responses"]["200"]["content"]
    assert list(content) == ["text/event-stream"]
    schema = content["text/event-stream"]["schema"]
    assert schema["else"]["properties"]["data"]["contentSchema"] == {
        "$ref": "#/components/schemas/ccplane.v1.RunEvent"
    }
    assert schema["then"]["properties"]["data"]["contentSchema"] == {
        "$ref": "#/components/schemas/google.rpc.Status"
    }
    names = [p["name"] for p in events["parameters"]]
    assert names == ["run_id", "after_seq", "Last-Event-ID"]


def test_stream_shapes_and_frames(contract: Contract) -> None:
    methods = {b.method.name: b.method for b in contract.bindings if b.server_streaming}
    run_events = stream_shape(methods["StreamRunEvents"])
    assert (run_events.cursor.name, run_events.event_id.name, run_events.event_type.name) == (
        "after_seq",
        "seq",
        "type",
    )
    todos = stream_shape(methods["StreamTodoEvents"])
    assert (todos.cursor.name, todos.event_id.name, todos.event_type, todos.fixed_event) == (
        "after_version",
        "version",
        None,
        "todos.updated",
    )
    event_cls = contract.message_class(methods["StreamRunEvents"].output_type)
    event = event_cls(run_id="run_a", seq=3, type="message.delta")
    assert frame(event, run_events, contract.pool) == (
        b'id: 3\nevent: message.delta\ndata: {"runId":"run_a","seq":"3","type":"message.delta"}\n\n'
    )


def test_openapi_describes_the_gateways_upload_route(document: dict[str, Any]) -> None:
    upload = document["paths"]["/api/workspaces/{workspace_id}/files:upload"]["post"]
    assert upload["operationId"] == "WorkspaceService_UploadFile"
    params = {(p["name"], p["in"]): p["required"] for p in upload["parameters"]}
    assert params == {
        ("workspace_id", "path"): True,
        ("path", "query"): True,
        ("expectedVersion", "query"): False,
        ("mode", "query"): False,
        ("size", "query"): False,
        ("requestId", "query"): False,
    }
    assert set(upload["requestBody"]["content"]) == {"application/octet-stream", "multipart/form-data"}
    ok = upload["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/ccplane.v1.UploadFileResponse"}
    assert "ccplane.v1.UploadFileResponse" in document["components"]["schemas"]
