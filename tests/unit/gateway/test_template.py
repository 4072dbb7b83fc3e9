"""HTTP rule path templates: the google.api.http grammar and Envoy's matching rules."""

from __future__ import annotations

import pytest

from gateway.template import TemplateError, parse_template, split_request_path


def _match(template: str, path: str) -> dict[str, str] | None:
    parsed = parse_template(template)
    for parts, verb in split_request_path(path):
        values = parsed.match(parts, verb)
        if values is not None:
            return values
    return None


def test_single_segment_variables() -> None:
    assert _match("/api/runs/{run_id}", "/api/runs/run_1") == {"run_id": "run_1"}
    assert _match("/api/runs/{run_id}/human-loop/{question_id}/reply", "/api/runs/r/human-loop/q/reply") == {
        "run_id": "r",
        "question_id": "q",
    }
    assert _match("/api/runs/{run_id}", "/api/runs") is None
    assert _match("/api/runs/{run_id}", "/api/runs/") is None, "an empty segment is no value"
    assert _match("/api/runs/{run_id}", "/api/runs/a/b") is None


def test_single_segment_values_are_fully_decoded() -> None:
    assert _match("/api/runs/{run_id}", "/api/runs/a%2Fb%20c") == {"run_id": "a/b c"}


def test_multi_segment_variables_keep_reserved_characters_encoded() -> None:
    template = "/v1/{name=shelves/*/books/*}"
    assert _match(template, "/v1/shelves/s1/books/b%2F1%20x") == {"name": "shelves/s1/books/b%2F1 x"}
    assert _match(template, "/v1/shelves/s1/books") is None
    assert _match("/v1/{path=**}", "/v1/a/b/c") == {"path": "a/b/c"}
    assert _match("/v1/files/{path=**}", "/v1/files") == {"path": ""}


def test_custom_verbs() -> None:
    rename = "/api/workspaces/{workspace_id}/files:rename"
    assert _match(rename, "/api/workspaces/ws_1/files:rename") == {"workspace_id": "ws_1"}
    assert _match(rename, "/api/workspaces/ws_1/files") is None
    assert _match("/api/workspaces/{workspace_id}/files", "/api/workspaces/ws_1/files:rename") is None
    # A colon that is no verb stays part of the segment.
    assert _match("/api/runs/{run_id}", "/api/runs/a:b") == {"run_id": "a:b"}


def test_openapi_path_and_specificity() -> None:
    assert parse_template("/v1/{name=shelves/*}/books:list").openapi_path == "/v1/{name}/books:list"
    assert parse_template("/v1/*/x").openapi_path == "/v1/{_wildcard1}/x"
    literal, variable = parse_template("/api/runs/start"), parse_template("/api/runs/{run_id}")
    assert literal.specificity < variable.specificity


@pytest.mark.parametrize(
    "bad", ["api/runs", "/api/{run_id", "/api/{1x}", "/api/**/x", "/api/runs:", "/api/a*b", "/api//x"]
)
def test_bad_templates_are_refused(bad: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(bad)
