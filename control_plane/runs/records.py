"""Plain records of runs, as domain code and servicers see them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from common.db import models


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_output_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True)
class NewRun:
    """A validated request to create a run."""

    prompt: str
    provider: str
    model: str
    settings: dict[str, Any]
    workspace_id: str | None
    require_human_loop: bool
    resume_thread_id: str | None
    labels: dict[str, str]
    request_id: str
    request_hash: str
    trace_id: str
    # The CreateRun call's span: later work on the run continues under it.
    trace_span_id: str = ""


@dataclass(frozen=True)
class RunRecord:
    id: str
    tenant_id: str
    status: str
    provider: str
    model: str
    prompt: str
    settings: dict[str, Any]
    workspace_id: str | None
    workspace_version: int | None
    require_human_loop: bool
    resume_thread_id: str | None
    thread_id: str | None
    executor_id: str | None
    labels: dict[str, str]
    trace_id: str
    error: str | None
    error_reason: str | None
    last_seq: int
    usage: Usage
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: models.AgentRun) -> RunRecord:
        return cls(
            id=row.id,
            tenant_id=row.tenant_id,
            status=row.status,
            provider=row.provider,
            model=row.model,
            prompt=row.prompt,
            settings=dict(row.settings or {}),
            workspace_id=row.workspace_id,
            workspace_version=row.workspace_version,
            require_human_loop=row.require_human_loop,
            resume_thread_id=row.resume_thread_id,
            thread_id=row.thread_id,
            executor_id=row.executor_id,
            labels={str(k): str(v) for k, v in (row.labels or {}).items()},
            trace_id=row.trace_id,
            error=row.error,
            error_reason=row.error_reason,
            last_seq=row.last_seq,
            usage=Usage(
                input_tokens=row.input_tokens,
                cached_input_tokens=row.cached_input_tokens,
                output_tokens=row.output_tokens,
                reasoning_output_tokens=row.reasoning_output_tokens,
                total_tokens=row.total_tokens,
            ),
            created_at=row.created_at,
            updated_at=row.updated_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )
