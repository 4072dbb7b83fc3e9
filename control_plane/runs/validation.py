"""Validation of run requests: bad input becomes INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from google.protobuf import json_format

from ccplane.v1 import runs_pb2
from common import ids, providers
from common.errors import (
    FieldViolation,
    ServiceError,
    failed_precondition,
    invalid_argument,
    invalid_arguments,
)
from control_plane.runs.records import NewRun

MAX_PROMPT_CHARS = 200_000
MAX_LABELS = 64
_LABEL_KEY = re.compile(r"[a-z0-9]([a-z0-9_.\-/]{0,61}[a-z0-9])?")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_THREAD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,127}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}")
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-/]{0,127}")


def require_id(kind: str, field_name: str, value: str) -> str:
    """Check an id's presence and format before it reaches storage."""
    if not value:
        raise invalid_argument(field_name, "is required")
    if not ids.is_valid(kind, value):
        raise invalid_argument(field_name, f"is not a valid id (expected {kind}_ followed by 26 characters)")
    return value


def validate_request_id(value: str) -> str:
    if value and not _REQUEST_ID.fullmatch(value):
        raise invalid_argument("request_id", "must be 1-128 letters, digits or _.:- characters")
    return value


def _settings_violations(settings: runs_pb2.RunSettings) -> list[FieldViolation]:
    out: list[FieldViolation] = []
    timeout = settings.human_loop_timeout
    if timeout.seconds < 0 or timeout.nanos < 0:
        out.append(FieldViolation("settings.human_loop_timeout", "must not be negative"))
    for name in settings.env:
        if not _ENV_NAME.fullmatch(name):
            out.append(FieldViolation(f"settings.env[{name!r}]", "is not a valid environment variable name"))
    for key in settings.config_overrides:
        if not key or key.strip() != key:
            out.append(FieldViolation("settings.config_overrides", f"invalid key {key!r}"))
    for name, server in settings.mcp_servers.items():
        if not name:
            out.append(FieldViolation("settings.mcp_servers", "server names must not be empty"))
        if bool(server.command) == bool(server.url):
            out.append(FieldViolation(f"settings.mcp_servers[{name!r}]", "set exactly one of command or url"))
    for field_name, enum in (
        ("approval_mode", runs_pb2.ApprovalMode),
        ("sandbox_mode", runs_pb2.SandboxMode),
        ("reasoning_effort", runs_pb2.ReasoningEffort),
        ("thread_mode", runs_pb2.ThreadMode),
    ):
        value = getattr(settings, field_name)
        if value not in enum.values():
            out.append(FieldViolation(f"settings.{field_name}", f"unknown value {value}"))
    return out


def _labels_violations(labels: dict[str, str]) -> list[FieldViolation]:
    out: list[FieldViolation] = []
    if len(labels) > MAX_LABELS:
        out.append(FieldViolation("labels", f"at most {MAX_LABELS} labels"))
    for key, value in labels.items():
        if not _LABEL_KEY.fullmatch(key):
            out.append(FieldViolation(f"labels[{key!r}]", "keys are 1-63 lower-case letters, digits or _.-/"))
        if len(value) > 256:
            out.append(FieldViolation(f"labels[{key!r}]", "values are at most 256 characters"))
    return out


def request_fingerprint(request: runs_pb2.CreateRunRequest) -> str:
    """Hash of the request without its request_id, to detect a reused key."""
    copy = runs_pb2.CreateRunRequest()
    copy.CopyFrom(request)
    copy.request_id = ""
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()


def settings_to_json(settings: runs_pb2.RunSettings) -> dict[str, Any]:
    return json_format.MessageToDict(settings, preserving_proto_field_name=True)


def settings_from_json(data: dict[str, Any]) -> runs_pb2.RunSettings:
    return json_format.ParseDict(data, runs_pb2.RunSettings(), ignore_unknown_fields=True)


def validate_create_run(
    request: runs_pb2.CreateRunRequest, *, default_model: str, trace_id: str, trace_span_id: str = ""
) -> NewRun:
    violations: list[FieldViolation] = []
    prompt = request.prompt
    if not prompt.strip():
        violations.append(FieldViolation("prompt", "must not be empty"))
    elif len(prompt) > MAX_PROMPT_CHARS:
        violations.append(FieldViolation("prompt", f"must be at most {MAX_PROMPT_CHARS} characters"))
    provider = request.provider or providers.DEFAULT_PROVIDER
    info = providers.resolve(provider)
    if info is None:
        violations.append(
            FieldViolation(
                "provider", f"unknown provider {provider!r}; known: {', '.join(providers.known_names())}"
            )
        )
    if request.model and not _MODEL.fullmatch(request.model):
        violations.append(FieldViolation("model", "must be 1-128 letters, digits or _.:-/ characters"))
    if request.workspace_id and not ids.is_valid(ids.WORKSPACE, request.workspace_id):
        violations.append(FieldViolation("workspace_id", "is not a valid workspace id"))
    if request.resume_thread_id and not _THREAD_ID.fullmatch(request.resume_thread_id):
        violations.append(FieldViolation("resume_thread_id", "is not a valid thread id"))
    if request.request_id and not _REQUEST_ID.fullmatch(request.request_id):
        violations.append(FieldViolation("request_id", "must be 1-128 letters, digits or _.:- characters"))
    violations += _settings_violations(request.settings)
    violations += _labels_violations(dict(request.labels))
    if violations:
        raise _invalid(violations)
    assert info is not None
    if request.require_human_loop and providers.Capability.HUMAN_LOOP not in info.capabilities:
        raise failed_precondition(
            "PROVIDER_LACKS_HUMAN_LOOP",
            f"provider {provider!r} cannot ask a person and wait for the answer",
            provider=provider,
        )
    if request.resume_thread_id and providers.Capability.RESUME not in info.capabilities:
        raise failed_precondition(
            "PROVIDER_LACKS_RESUME", f"provider {provider!r} cannot resume threads", provider=provider
        )
    return NewRun(
        prompt=prompt,
        provider=provider,
        model=request.model or default_model,
        settings=settings_to_json(request.settings),
        workspace_id=request.workspace_id or None,
        require_human_loop=request.require_human_loop,
        resume_thread_id=request.resume_thread_id or None,
        labels=dict(request.labels),
        request_id=request.request_id,
        request_hash=request_fingerprint(request),
        trace_id=trace_id,
        trace_span_id=trace_span_id,
    )


def _invalid(violations: list[FieldViolation]) -> ServiceError:
    if len(violations) == 1:
        v = violations[0]
        return invalid_argument(v.field, v.description)
    return invalid_arguments(violations)
