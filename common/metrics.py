"""Prometheus metrics of one service: its own registry, served on its own port.

Each service object (control plane, executor-manager, executor, gateway) owns
a ``CollectorRegistry``, so several services in one process (``ccplane up``,
tests) never collide, and serves it with :class:`MetricsEndpoint` on its own
HTTP port. Figures that live in the database (runs by status, queue depth)
are read when Prometheus scrapes, by the endpoint's ``refresh`` hooks, rather
than kept up to date in every process that changes them.

:class:`GrpcServerMetrics` counts and times every gRPC call a server answers,
by service, method and status code.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc
import uvicorn
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from common.grpc_server import rewrap_handler
from common.http_server import EmbeddedServer, listening_socket

log = logging.getLogger(__name__)

# A scrape waits this long for the refresh hooks; then it serves the last values.
REFRESH_TIMEOUT_S = 5.0
# Latency buckets (seconds) for calls and short operations.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# Buckets for waits measured in minutes and hours (a person answering).
HUMAN_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600)
# Buckets for byte sizes (workspace archives, transfers).
BYTE_BUCKETS = tuple(float(4**n * 1024) for n in range(0, 11))

Refresh = Callable[[], Awaitable[None]]


class MetricsEndpoint:
    """Serves ``/metrics`` of one registry over HTTP, plus the given routes.

    ``refresh`` hooks run before each scrape (concurrently, bounded by
    :data:`REFRESH_TIMEOUT_S`); one that fails is logged and its metrics keep
    their last values.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        name: str,
        refresh: Sequence[Refresh] = (),
        routes: Sequence[BaseRoute] = (),
    ) -> None:
        self.registry = registry
        self.name = name
        self._refresh = list(refresh)
        self._app = Starlette(
            routes=[
                Route("/metrics", self._metrics, methods=["GET"]),
                Route("/healthz", self._healthz, methods=["GET"]),
                *routes,
            ]
        )
        self._server: EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.host = ""
        self.port = 0

    @property
    def url(self) -> str:
        """``http://host:port`` of the endpoint (its metrics are at ``/metrics``)."""
        return f"http://{self.host}:{self.port}"

    def add_refresh(self, hook: Refresh) -> None:
        self._refresh.append(hook)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        sock = listening_socket(host, port)
        self.host = host
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self._app, log_level="warning", access_log=False, lifespan="off")
        self._server = EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name=f"{self.name}-metrics")
        ready = asyncio.create_task(self._server.ready.wait())
        await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            await self._task  # raises what stopped the server
            raise OSError(f"metrics endpoint of {self.name} did not start on {host}:{port}")
        log.info("metrics endpoint listening", extra={"service": self.name, "url": f"{self.url}/metrics"})

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            async with asyncio.timeout(5):
                await self._task
        except TimeoutError:
            self._task.cancel()
        self._server = None
        self._task = None

    async def render(self) -> bytes:
        """The registry in the Prometheus text format, refreshed first."""
        await self._run_refresh()
        return generate_latest(self.registry)

    async def _run_refresh(self) -> None:
        if not self._refresh:
            return
        results = await asyncio.gather(
            *(asyncio.wait_for(hook(), REFRESH_TIMEOUT_S) for hook in self._refresh), return_exceptions=True
        )
        for hook, result in zip(self._refresh, results, strict=True):
            if isinstance(result, BaseException):
                log.warning(
                    "metrics refresh failed; serving the last values",
                    extra={
                        "service": self.name,
                        "hook": getattr(hook, "__qualname__", ""),
                        "error": repr(result),
                    },
                )

    async def _metrics(self, request: Request) -> Response:
        return Response(await self.render(), media_type=CONTENT_TYPE_LATEST)

    async def _healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok\n")


class GrpcServerMetrics(grpc.aio.ServerInterceptor):
    """Calls a gRPC server started, answered (by status code), their
    latency and how many are in flight, by service and method."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["grpc_service", "grpc_method"]
        self.started = Counter(
            "ccplane_grpc_server_started_total", "gRPC calls started.", labels, registry=registry
        )
        self.handled = Counter(
            "ccplane_grpc_server_handled_total",
            "gRPC calls completed, by status code.",
            [*labels, "grpc_code"],
            registry=registry,
        )
        self.latency = Histogram(
            "ccplane_grpc_server_handling_seconds",
            "Time to complete a gRPC call (streams: until the stream ended).",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "ccplane_grpc_server_in_flight", "gRPC calls being served.", labels, registry=registry
        )

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        service, _, method = details.method.lstrip("/").rpartition("/")
        started, handled, latency, in_flight = (
            self.started.labels(service, method),
            self.handled,
            self.latency.labels(service, method),
            self.in_flight.labels(service, method),
        )

        def finish(begun: float, code: str) -> None:
            in_flight.dec()
            latency.observe(time.perf_counter() - begun)
            handled.labels(service, method, code).inc()

        def wrap_unary(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
                started.inc()
                in_flight.inc()
                begun = time.perf_counter()
                code = "UNKNOWN"
                try:
                    result = await fn(request, context)
                    code = _code_name(context, "OK")
                    return result
                except asyncio.CancelledError:
                    code = "CANCELLED"
                    raise
                except BaseException:
                    code = _code_name(context, "UNKNOWN")
                    raise
                finally:
                    finish(begun, code)

            return call

        def wrap_stream(fn: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
            async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                started.inc()
                in_flight.inc()
                begun = time.perf_counter()
                code = "UNKNOWN"
                try:
                    async for item in fn(request, context):
                        yield item
                    code = _code_name(context, "OK")
                except (asyncio.CancelledError, GeneratorExit):
                    code = "CANCELLED"
                    raise
                except BaseException:
                    code = _code_name(context, "UNKNOWN")
                    raise
                finally:
                    finish(begun, code)

            return call

        return rewrap_handler(handler, wrap_unary, wrap_stream)


def _code_name(context: grpc.aio.ServicerContext, default: str) -> str:
    """The status code the call ended with (``default`` when none was set)."""
    try:
        code = context.code()
    except Exception:  # older runtimes without ServicerContext.code()
        return default
    if code is None:
        return default
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    for candidate in grpc.StatusCode:
        if candidate.value[0] == code:
            return str(candidate.name)
    return default
