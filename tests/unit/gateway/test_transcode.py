"""Weaving request messages from JSON bodies and URL bindings; printing proto3 JSON."""

from __future__ import annotations

import json

import pytest
from google.protobuf import descriptor_pool, struct_pb2

from ccplane.v1 import common_pb2, human_loop_pb2, runs_pb2
from gateway.transcode import RequestError, bind, body_into, message_to_json, parse_json_body, parse_query

POOL = descriptor_pool.Default()


def _body(message_cls: type, document: object, path: str = "*") -> tuple[object, set[str]]:
    message = message_cls()
    return message, body_into(message, path, document, POOL)


def _field(exc: pytest.ExceptionInfo[RequestError]) -> str:
    return exc.value.field


def test_body_accepts_json_names_and_proto_names() -> None:
    message, paths = _body(
        runs_pb2.CreateRunRequest,
        {
            "prompt": "hi",
            "workspace_id": "ws",
            "settings": {"approvalMode": "APPROVAL_MODE_NEVER", "sandbox_mode": 2},
        },
    )
    assert isinstance(message, runs_pb2.CreateRunRequest)
    assert message.workspace_id == "ws"
    assert message.settings.approval_mode == runs_pb2.APPROVAL_MODE_NEVER
    assert message.settings.sandbox_mode == runs_pb2.SANDBOX_MODE_WORKSPACE_WRITE
    assert {"prompt", "workspace_id", "settings", "settings.approval_mode"} <= paths


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ([], "body"),
        ({"nope": 1}, "nope"),
        ({"settings": {"mcpServers": {"fs": {"argv": []}}}}, 'settings.mcpServers["fs"].argv'),
        ({"settings": {"approvalMode": "BAD"}}, "settings.approvalMode"),
        ({"settings": {"approvalMode": True}}, "settings.approvalMode"),
        ({"settings": "x"}, "settings"),
        ({"labels": {"a": 1}}, "labels"),
        ({"settings": {"humanLoopTimeout": "1h"}}, "settings.humanLoopTimeout"),
        ({"prompt": "a", "prompt_": 1}, "prompt_"),
    ],
)
def test_bad_bodies_name_the_field(document: object, field: str) -> None:
    with pytest.raises(RequestError) as exc:
        _body(runs_pb2.CreateRunRequest, document)
    assert _field(exc) == field


def test_oneof_twice_names_the_oneof() -> None:
    with pytest.raises(RequestError) as exc:
        _body(human_loop_pb2.ReplyRequest, {"text": "a", "approval": {}})
    assert _field(exc) == "answer"


def test_malformed_and_empty_bodies() -> None:
    assert parse_json_body(b"") == {}
    assert parse_json_body(b"  \n") == {}
    with pytest.raises(RequestError) as exc:
        parse_json_body(b'{"a":')
    assert _field(exc) == "body"
    with pytest.raises(RequestError):
        parse_json_body(b"\xff")
    with pytest.raises(RequestError):
        parse_json_body(b"[" * 100_000)


def test_deeply_nested_values_are_refused() -> None:
    nested: object = []
    for _ in range(200):
        nested = [nested]
    with pytest.raises(RequestError) as exc:
        _body(runs_pb2.CreateRunRequest, {"settings": {"configOverrides": {"a": nested}}})
    assert _field(exc) == "settings.configOverrides"


def test_body_into_a_field() -> None:
    message, _ = _body(runs_pb2.CreateRunRequest, {"approvalMode": "APPROVAL_MODE_NEVER"}, path="settings")
    assert isinstance(message, runs_pb2.CreateRunRequest)
    assert message.settings.approval_mode == runs_pb2.APPROVAL_MODE_NEVER


def test_query_parsing_follows_envoy() -> None:
    assert parse_query(b"a=1&b&=x&c=x+y%2Bz&a=2") == [("a", "1"), ("c", "x y+z"), ("a", "2")]
    with pytest.raises(RequestError):
        parse_query("a=é".encode())


def test_bindings_convert_by_field_type() -> None:
    request = runs_pb2.ListRunsRequest()
    bound: set[str] = set()
    for name, value in [
        ("pageSize", "5"),
        ("status", "RUN_STATUS_QUEUED"),
        ("status", "7"),
        ("thread_id", "t"),
    ]:
        bind(request, name, value, set(), bound)
    assert request.page_size == 5
    assert list(request.status) == [common_pb2.RUN_STATUS_QUEUED, common_pb2.RUN_STATUS_CANCELED]
    assert request.thread_id == "t"
    assert bound == {"page_size", "status", "thread_id"}


def test_nested_and_well_known_bindings() -> None:
    request = runs_pb2.CreateRunRequest()
    bind(request, "settings.approval_mode", "1", set(), set())
    bind(request, "settings.humanLoopTimeout", "90s", set(), set())
    bind(request, "requireHumanLoop", "true", set(), set())
    assert request.settings.approval_mode == runs_pb2.APPROVAL_MODE_NEVER
    assert request.settings.human_loop_timeout.seconds == 90
    assert request.require_human_loop is True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("page_size", "1.5"),
        ("page_size", "2147483648"),
        ("status", "RUN_STATUS_NOPE"),
        ("nope", "1"),
        ("status.x", "1"),
        ("thread_id", "\udcff"),
    ],
)
def test_bad_bindings_name_the_parameter(name: str, value: str) -> None:
    with pytest.raises(RequestError) as exc:
        bind(runs_pb2.ListRunsRequest(), name, value, set(), set())
    assert _field(exc) == name


def test_maps_and_messages_cannot_be_bound() -> None:
    for name in ("labels", "settings"):
        with pytest.raises(RequestError):
            bind(runs_pb2.CreateRunRequest(), name, "x", set(), set())


def test_body_and_binding_collisions() -> None:
    request, paths = _body(runs_pb2.StopRunRequest, {"runId": "run_a", "reason": "r"})
    bind(request, "run_id", "run_a", paths, set())  # same value: fine
    with pytest.raises(RequestError) as exc:
        bind(request, "run_id", "run_b", paths, set())
    assert _field(exc) == "run_id"


def test_json_printing_matches_envoy_defaults() -> None:
    run = runs_pb2.Run(id="run_a", status=common_pb2.RUN_STATUS_QUEUED, last_seq=2**40)
    run.settings.config_overrides["n"].CopyFrom(struct_pb2.Value(number_value=2.0))
    run.settings.config_overrides["f"].CopyFrom(struct_pb2.Value(number_value=2.5))
    text = message_to_json(runs_pb2.GetRunResponse(run=run), POOL).decode()
    assert " " not in text
    document = json.loads(text)
    assert document == {
        "run": {
            "id": "run_a",
            "status": "RUN_STATUS_QUEUED",
            "lastSeq": str(2**40),
            "settings": {"configOverrides": {"n": 2, "f": 2.5}},
        }
    }
    assert '"n":2,' in text or '"n":2}' in text
