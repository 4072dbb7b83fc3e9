"""Conversions between run records and their protobuf messages."""

from __future__ import annotations

from datetime import datetime

from google.protobuf import timestamp_pb2

from ccplane.v1 import common_pb2, runs_pb2
from control_plane.runs.records import RunRecord
from control_plane.runs.state_machine import RunStatus, status_to_proto
from control_plane.runs.validation import settings_from_json


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def run_to_proto(run: RunRecord) -> runs_pb2.Run:
    message = runs_pb2.Run(
        id=run.id,
        workspace_id=run.workspace_id or "",
        status=status_to_proto(RunStatus(run.status)),
        provider=run.provider,
        model=run.model,
        settings=settings_from_json(run.settings),
        thread_id=run.thread_id or "",
        executor_id=run.executor_id or "",
        error=run.error or "",
        error_reason=run.error_reason or "",
        usage=common_pb2.Usage(
            input_tokens=run.usage.input_tokens,
            cached_input_tokens=run.usage.cached_input_tokens,
            output_tokens=run.usage.output_tokens,
            reasoning_output_tokens=run.usage.reasoning_output_tokens,
            total_tokens=run.usage.total_tokens,
        ),
        trace_id=run.trace_id,
        last_seq=run.last_seq,
        prompt=run.prompt,
        labels=run.labels,
        require_human_loop=run.require_human_loop,
        resume_thread_id=run.resume_thread_id or "",
        workspace_version=run.workspace_version or 0,
    )
    for name in ("created_at", "updated_at", "started_at", "finished_at"):
        value = timestamp(getattr(run, name))
        if value is not None:
            getattr(message, name).CopyFrom(value)
    return message
