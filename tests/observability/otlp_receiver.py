"""A real OTLP trace receiver on loopback: the collector's gRPC ``TraceService``.

The services under test export to it as they would to an OpenTelemetry
Collector (``OTEL_EXPORTER_OTLP_ENDPOINT=<receiver.endpoint>``); it keeps
every span it receives, with the ``service.name`` of the process that sent
it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    scope: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: str
    attributes: dict[str, Any] = field(default_factory=dict)


def _value(value: common_pb2.AnyValue) -> Any:
    which = value.WhichOneof("value")
    return (
        getattr(value, which)
        if which in ("string_value", "bool_value", "int_value", "double_value")
        else None
    )


def _attributes(pairs: Sequence[common_pb2.KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


class OtlpReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self._received = asyncio.Condition()
        self._server: grpc.aio.Server | None = None
        self.endpoint = ""

    async def start(self) -> None:
        server = grpc.aio.server()
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._server = server
        self.endpoint = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.aio.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            service = str(_attributes(resource_spans.resource.attributes).get("service.name", ""))
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            service=service,
                            scope=scope_spans.scope.name,
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            kind=trace_pb2.Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_").lower(),
                            attributes=_attributes(span.attributes),
                        )
                    )
        async with self._received:
            self._received.notify_all()
        return trace_service_pb2.ExportTraceServiceResponse()

    def of_trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [s for s in self.spans if s.trace_id == trace_id]

    async def wait_for(
        self, trace_id: str, done: Callable[[list[ReceivedSpan]], bool], timeout_s: float
    ) -> list[ReceivedSpan]:
        """The trace's spans once ``done`` says they are all there; fails after ``timeout_s``."""
        try:
            async with asyncio.timeout(timeout_s), self._received:
                await self._received.wait_for(lambda: done(self.of_trace(trace_id)))
        except TimeoutError:
            names = sorted(f"{s.service}:{s.name}" for s in self.of_trace(trace_id))
            raise AssertionError(f"the trace {trace_id} stayed incomplete; received: {names}") from None
        return self.of_trace(trace_id)
