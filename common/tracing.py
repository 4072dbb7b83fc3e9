"""OpenTelemetry: each process's tracer provider, its exporter, and a run's trace.

W3C trace context travels in gRPC metadata through the
opentelemetry-instrumentation-grpc interceptors. Spans leave the process
over OTLP only when the standard variables ask for it:

- ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``
  is set, or ``OTEL_TRACES_EXPORTER=otlp`` (the exporter's default endpoint);
  ``OTEL_TRACES_EXPORTER=none`` turns export off;
- ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` / ``OTEL_EXPORTER_OTLP_PROTOCOL``:
  ``grpc`` (default) or ``http/protobuf``; the exporter reads the endpoint,
  headers, timeout, certificates and compression variables itself;
- ``OTEL_SERVICE_NAME`` overrides the service name the process passes,
  ``OTEL_RESOURCE_ATTRIBUTES`` adds attributes, ``OTEL_TRACES_SAMPLER`` /
  ``OTEL_TRACES_SAMPLER_ARG`` choose the sampler (the SDK's default,
  ``parentbased_always_on``, when unset), ``OTEL_BSP_*`` tune batching.

Without them spans are still made (their ids go on runs, events and logs)
and go nowhere, which costs little.

A run's trace: the CreateRun server span is the root of everything done for
the run. Its trace id and span id are stored on the run
(``agent_runs.trace_id``, ``trace_span_id``), and work done later for the
run — scheduling, its session on an executor, human-loop waits and replies —
continues under it (:func:`run_context`), in whichever process does it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, TraceFlags
from opentelemetry.util.types import AttributeValue

log = logging.getLogger(__name__)

# Attributes every span of a run carries.
RUN_ID: Final = "ccplane.run_id"
TENANT: Final = "ccplane.tenant"
# Longest string attribute we set from user content (a command line).
MAX_ATTRIBUTE_CHARS: Final = 200

_provider: TracerProvider | None = None


def configure(service_name: str) -> None:
    """Install this process's tracer provider, once (later calls do nothing).

    A process that runs several services (``ccplane up``, tests) has one
    provider and so one ``service.name``: its entry point configures first;
    each service's spans still name it in their tracer (instrumentation
    scope), e.g. ``ccplane.executor``."""
    global _provider
    if _provider is not None:
        return
    provider = build_provider(service_name)
    trace.set_tracer_provider(provider)
    _provider = provider


def build_provider(service_name: str) -> TracerProvider:
    """A tracer provider as the environment configures it (see the module docstring)."""
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    exporter = exporter_from_env()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
        service = str(provider.resource.attributes.get(SERVICE_NAME, ""))
        log.info("exporting traces over OTLP", extra={"exporter": type(exporter).__module__, "as": service})
    return provider


def exporter_from_env() -> SpanExporter | None:
    """The OTLP span exporter the ``OTEL_*`` variables ask for, or None."""
    configured = os.environ.get("OTEL_TRACES_EXPORTER", "")
    names = {n.strip().lower() for n in configured.split(",") if n.strip()} or {"otlp"}
    if "otlp" not in names:
        if names - {"none"}:
            log.warning("OTEL_TRACES_EXPORTER=%s: only otlp or none is supported; not exporting", configured)
        return None
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if not endpoint and not configured:
        return None
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    ).strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        return HttpExporter()
    raise ValueError(
        f"OTEL_EXPORTER_OTLP_PROTOCOL (or _TRACES_PROTOCOL) {protocol!r} is not supported: "
        "use grpc or http/protobuf"
    )


def shutdown(timeout_s: float = 5.0) -> None:
    """Export the spans still buffered, then stop exporting.

    Call once, when the process stops (its entry point, after every service
    in it has stopped): one provider serves every service of a process, so a
    service stopping must not end export for another one still running."""
    if _provider is None:
        return
    _provider.force_flush(int(timeout_s * 1000))
    _provider.shutdown()


def server_interceptor() -> Any:
    return aio_server_interceptor()


def client_interceptors() -> list[Any]:
    return list(aio_client_interceptors())


# -- a run's trace ----------------------------------------------------------------


def run_attributes(run_id: str, tenant: str, **more: AttributeValue) -> dict[str, AttributeValue]:
    return {RUN_ID: run_id, TENANT: tenant, **more}


def truncate(text: str) -> str:
    """``text`` cut to :data:`MAX_ATTRIBUTE_CHARS`, for an attribute."""
    return text if len(text) <= MAX_ATTRIBUTE_CHARS else text[: MAX_ATTRIBUTE_CHARS - 1] + "…"


def span_id_hex(span: Span) -> str:
    """The span's id as stored (16 hex digits; "" for no span)."""
    context = span.get_span_context()
    return format(context.span_id, "016x") if context.is_valid else ""


def run_context(trace_id: str, span_id: str = "") -> otel_context.Context | None:
    """A context whose current span is the run's CreateRun span (remote), so
    that spans started in it join the run's trace as its children. None for
    a run without a trace id.

    ``trace_id``: 32 hex digits; ``span_id``: 16. A run recorded without a
    span id (before it was stored) gets a made-up parent: its spans join the
    trace but not its tree. The sampling decision is made again from the
    trace id, as the sampler made it for the root (every sampler the SDK
    configures from OTEL_TRACES_SAMPLER decides a root from its trace id)."""
    trace_value = _hex(trace_id)
    if not trace_value:
        return None
    span_context = SpanContext(
        trace_id=trace_value,
        span_id=_hex(span_id) or random.getrandbits(64) or 1,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if _root_sampled(trace_value) else TraceFlags.DEFAULT),
    )
    return trace.set_span_in_context(NonRecordingSpan(span_context))


@contextlib.contextmanager
def remote_context(trace_id: str, span_id: str = "") -> Iterator[None]:
    """Continue the run's trace in this block (see :func:`run_context`).

    Work done on behalf of a run long after the request that created it
    (scheduling, driving its session) joins the run's trace, and the trace
    context travels on to the executor-manager and the executor in gRPC
    metadata."""
    context = run_context(trace_id, span_id)
    if context is None:
        yield
        return
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


def start_run_span(
    tracer: trace.Tracer,
    name: str,
    *,
    trace_id: str,
    span_id: str,
    run_id: str,
    tenant: str,
    attributes: Mapping[str, AttributeValue] | None = None,
    start_time: int | None = None,
    link_current: bool = False,
) -> Span:
    """Start (not enter) a span of the run's trace under its CreateRun span.

    ``link_current``: link the span to the current one, when the work is
    done for a call of another trace (a person's reply)."""
    links: Sequence[Link] = ()
    current = trace.get_current_span().get_span_context()
    if link_current and current.is_valid:
        links = [Link(current)]
    return tracer.start_span(
        name,
        context=run_context(trace_id, span_id),
        attributes={**run_attributes(run_id, tenant), **(attributes or {})},
        links=links,
        start_time=start_time,
    )


def _hex(value: str) -> int:
    try:
        return int(value, 16) if value else 0
    except ValueError:
        return 0


def _root_sampled(trace_id: int) -> bool:
    sampler = getattr(trace.get_tracer_provider(), "sampler", None)
    if sampler is None:
        return True
    # An empty context: decide as for a root, whatever span is current here.
    result = sampler.should_sample(otel_context.Context(), trace_id, "ccplane.run")
    return bool(result.decision.is_sampled())
