"""OpenTelemetry setup shared by every service.

W3C trace context travels in gRPC metadata through the
opentelemetry-instrumentation-grpc interceptors; the trace id is stored on
runs and events. No exporter is configured unless OTEL_EXPORTER_* is set by
the deployment, so spans cost little when nobody collects them.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

_configured = False


def configure(service_name: str) -> None:
    """Install a tracer provider once per process (so span contexts are real)."""
    global _configured
    if _configured:
        return
    trace.set_tracer_provider(TracerProvider(resource=Resource.create({"service.name": service_name})))
    _configured = True


def server_interceptor() -> Any:
    return aio_server_interceptor()


def client_interceptors() -> list[Any]:
    return list(aio_client_interceptors())


@contextlib.contextmanager
def remote_context(trace_id: str) -> Iterator[None]:
    """Continue the trace ``trace_id`` (32 hex digits) in this block.

    Work done on behalf of a run long after the request that created it
    (scheduling, driving its session) joins the run's trace, so the trace id
    travels on to the executor-manager and the executor in gRPC metadata.
    """
    try:
        value = int(trace_id, 16)
    except ValueError:
        value = 0
    if not value:
        yield
        return
    span_context = SpanContext(
        trace_id=value,
        span_id=random.getrandbits(64) or 1,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(span_context)))
    try:
        yield
    finally:
        otel_context.detach(token)
