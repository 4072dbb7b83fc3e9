"""Protobuf ⇄ provider specs at the executor's boundary."""

from __future__ import annotations

from pathlib import Path

import grpc
from google.protobuf import json_format

from ccplane.v1 import executor_pb2, runs_pb2
from common.errors import FieldViolation, ServiceError
from executor.confinement import SessionBox
from executor.providers.base import McpServerSpec, Outcome, SessionOutcome, SessionSettings, SessionSpec
from executor.providers.errors import InvalidArgumentError, ProviderError

_APPROVAL = {
    runs_pb2.APPROVAL_MODE_NEVER: "never",
    runs_pb2.APPROVAL_MODE_ON_REQUEST: "on-request",
    runs_pb2.APPROVAL_MODE_ON_FAILURE: "on-failure",
    runs_pb2.APPROVAL_MODE_UNTRUSTED: "untrusted",
}
_SANDBOX = {
    runs_pb2.SANDBOX_MODE_READ_ONLY: "read-only",
    runs_pb2.SANDBOX_MODE_WORKSPACE_WRITE: "workspace-write",
    runs_pb2.SANDBOX_MODE_DANGER_FULL_ACCESS: "danger-full-access",
}
_EFFORT = {
    runs_pb2.REASONING_EFFORT_NONE: "none",
    runs_pb2.REASONING_EFFORT_MINIMAL: "minimal",
    runs_pb2.REASONING_EFFORT_LOW: "low",
    runs_pb2.REASONING_EFFORT_MEDIUM: "medium",
    runs_pb2.REASONING_EFFORT_HIGH: "high",
    runs_pb2.REASONING_EFFORT_XHIGH: "xhigh",
}
_THREAD = {runs_pb2.THREAD_MODE_PERSISTENT: "persistent", runs_pb2.THREAD_MODE_STATELESS: "stateless"}
_OUTCOME = {
    Outcome.COMPLETED: executor_pb2.SESSION_OUTCOME_COMPLETED,
    Outcome.FAILED: executor_pb2.SESSION_OUTCOME_FAILED,
    Outcome.CANCELED: executor_pb2.SESSION_OUTCOME_CANCELED,
}


def settings_from_proto(settings: runs_pb2.RunSettings) -> SessionSettings:
    """Unset enums take the platform defaults (on-request, workspace-write, persistent)."""
    overrides = json_format.MessageToDict(settings)["configOverrides"] if settings.config_overrides else {}
    return SessionSettings(
        approval_mode=_APPROVAL.get(settings.approval_mode, "on-request"),
        sandbox_mode=_SANDBOX.get(settings.sandbox_mode, "workspace-write"),
        reasoning_effort=_EFFORT.get(settings.reasoning_effort),
        thread_mode=_THREAD.get(settings.thread_mode, "persistent"),
        mcp_servers={
            name: McpServerSpec(command=s.command, args=tuple(s.args), env=dict(s.env), url=s.url)
            for name, s in settings.mcp_servers.items()
        },
        env=dict(settings.env),
        config_overrides=overrides,
        base_instructions=settings.base_instructions or None,
        developer_instructions=settings.developer_instructions or None,
    )


def spec_from_start(
    start: executor_pb2.StartSession,
    workspace_dir: Path,
    thread_state_dir: Path,
    box: SessionBox | None = None,
) -> SessionSpec:
    return SessionSpec(
        run_id=start.run_id,
        workspace_dir=workspace_dir,
        prompt=start.prompt,
        provider=start.provider or "codex-app-server",
        model=start.model or None,
        settings=settings_from_proto(start.settings),
        resume_thread_id=start.resume_thread_id or None,
        thread_state_dir=thread_state_dir,
        codex_home=box.codex_home if box is not None else None,
        confinement=box,
    )


def outcome_to_proto(outcome: SessionOutcome | None) -> executor_pb2.SessionEnded:
    if outcome is None:
        return executor_pb2.SessionEnded(
            outcome=executor_pb2.SESSION_OUTCOME_FAILED,
            error="the session ended without an outcome",
            error_reason="SESSION_LOST",
        )
    return executor_pb2.SessionEnded(
        outcome=_OUTCOME[outcome.outcome],
        error=outcome.error,
        error_reason=outcome.reason,
        thread_id=outcome.thread_id,
    )


def service_error(exc: ProviderError) -> ServiceError:
    """The gRPC form of a provider error."""
    code = grpc.StatusCode[exc.status_code]
    violations = [FieldViolation(exc.field, exc.message)] if isinstance(exc, InvalidArgumentError) else []
    return ServiceError(code, exc.reason, exc.message, violations)
