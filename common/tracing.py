"""OpenTelemetry setup shared by every service.

W3C trace context travels in gRPC metadata through the
opentelemetry-instrumentation-grpc interceptors; the trace id is stored on
runs and events. No exporter is configured unless OTEL_EXPORTER_* is set by
the deployment, so spans cost little when nobody collects them.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

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
