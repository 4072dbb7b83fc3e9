"""Prometheus metrics of the gateway: requests by route and status, latency, open streams.

Each :class:`GatewayMetrics` has its own registry, so several gateways in one
process (tests, ``ccplane up``) never collide. The route label is the HTTP
rule's path template (``/api/runs/{run_id}``), never the raw path.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.sse import StreamRegistry
from gateway.transcoder import ROUTE_KEY

CONTENT_TYPE = CONTENT_TYPE_LATEST


class GatewayMetrics:
    def __init__(self, streams: StreamRegistry) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ccplane_gateway_requests_total",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ccplane_gateway_request_duration_seconds",
            "Time to answer a request (for event streams: until the stream ended).",
            ["method", "route"],
            registry=self.registry,
        )
        open_streams = Gauge(
            "ccplane_gateway_open_streams",
            "Server-Sent Event streams relaying an upstream gRPC stream.",
            registry=self.registry,
        )
        open_streams.set_function(lambda: streams.open)
        cancelled = Gauge(
            "ccplane_gateway_streams_cancelled_by_client",
            "Upstream streams cancelled because the HTTP client went away (since start).",
            registry=self.registry,
        )
        cancelled.set_function(lambda: streams.cancelled_by_client)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request by the route it matched."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get(ROUTE_KEY) or "other"
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)
