"""gRPC server bootstrap shared by every service.

``GrpcServer`` wires a grpc.aio server the same way everywhere: the services'
servicers, server reflection, ``grpc.health.v1``, the OpenTelemetry
interceptor (W3C trace context from metadata), and the error interceptor that
turns :class:`~common.errors.ServiceError` into a rich status, an unreachable
database into UNAVAILABLE, and any other exception into a plain INTERNAL
without leaking a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from common import tracing
from common.db.errors import is_unavailable
from common.errors import ServiceError, unavailable

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# What a call gets while the database cannot be reached (restart, failover).
DATABASE_UNAVAILABLE = unavailable(
    "DATABASE_UNAVAILABLE", "the database is unavailable for a moment; retry shortly"
)


@dataclass(frozen=True)
class ServiceRegistration:
    """One servicer and the function that adds it to a server."""

    full_name: str  # e.g. "ccplane.v1.RunService"
    servicer: Any
    add_to_server: Callable[[Any, grpc.aio.Server], None]


def _status_for(exc: BaseException) -> grpc.Status:
    if isinstance(exc, ServiceError):
        return rpc_status.to_status(exc.to_status())
    if is_unavailable(exc):
        return rpc_status.to_status(DATABASE_UNAVAILABLE.to_status())
    return rpc_status.to_status(
        ServiceError(grpc.StatusCode.INTERNAL, "INTERNAL", "internal error").to_status()
    )


async def _abort(context: grpc.aio.ServicerContext, exc: BaseException, method: str) -> None:
    if isinstance(exc, NotImplementedError):
        exc = ServiceError(grpc.StatusCode.UNIMPLEMENTED, "UNIMPLEMENTED", f"{method} is not implemented yet")
    if is_unavailable(exc):
        log.warning("database unavailable in %s: %s", method, exc)
    elif not isinstance(exc, ServiceError):
        log.exception("unhandled error in %s", method, exc_info=exc)
    await context.abort_with_status(_status_for(exc))


Handler = Callable[..., Any]


def rewrap_handler(
    handler: grpc.RpcMethodHandler,
    wrap_unary: Callable[[Handler], Handler],
    wrap_stream: Callable[[Handler], Handler],
) -> grpc.RpcMethodHandler:
    """The same handler with its behaviour function wrapped (responses
    unary: ``wrap_unary``; streamed: ``wrap_stream``)."""
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            wrap_unary(handler.unary_unary), handler.request_deserializer, handler.response_serializer
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            wrap_unary(handler.stream_unary), handler.request_deserializer, handler.response_serializer
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            wrap_stream(handler.unary_stream), handler.request_deserializer, handler.response_serializer
        )
    if handler.stream_stream:
        return grpc.stream_stream_rpc_method_handler(
            wrap_stream(handler.stream_stream), handler.request_deserializer, handler.response_serializer
        )
    return handler


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Maps exceptions raised by handlers to gRPC statuses."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        method = details.method

        def wrap_unary(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
                try:
                    return await fn(request, context)
                except Exception as exc:
                    if _is_abort(exc):
                        raise
                    await _abort(context, exc, method)

            return call

        def wrap_stream(fn: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
            async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                try:
                    async for item in fn(request, context):
                        yield item
                except Exception as exc:
                    if _is_abort(exc):
                        raise
                    await _abort(context, exc, method)

            return call

        return rewrap_handler(handler, wrap_unary, wrap_stream)


# Served by every server and callable without credentials, like a load
# balancer's health checks and grpcurl's discovery.
OPEN_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class CallGuard(grpc.aio.ServerInterceptor):
    """Admits or refuses each call before its handler runs.

    Subclasses implement :meth:`admit`; a :class:`ServiceError` it raises
    ends the call with that status. ``admit`` runs in the call's own task,
    so context variables it sets are visible to the handler. Health and
    reflection are always open.
    """

    async def admit(self, method: str, context: grpc.aio.ServicerContext) -> None:
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method
        if handler is None or method.startswith(OPEN_METHOD_PREFIXES):
            return handler

        async def guard(context: grpc.aio.ServicerContext) -> None:
            try:
                await self.admit(method, context)
            except Exception as exc:
                await _abort(context, exc, method)

        def wrap_unary(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
                await guard(context)
                return await fn(request, context)

            return call

        def wrap_stream(fn: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
            async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                await guard(context)
                async for item in fn(request, context):
                    yield item

            return call

        return rewrap_handler(handler, wrap_unary, wrap_stream)


def bearer_token(context: grpc.aio.ServicerContext) -> str:
    """The token of the call's ``authorization: Bearer <token>`` metadata ("" when absent)."""
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
    return ""


def _is_abort(exc: BaseException) -> bool:
    # context.abort() raises AbortError, which must propagate untouched.
    return isinstance(exc, grpc.aio.AbortError)


class GrpcServer:
    """A started grpc.aio server with reflection and health."""

    def __init__(
        self,
        registrations: Sequence[ServiceRegistration],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        service_name: str = "ccplane",
        described_services: Sequence[str] = (),
    ) -> None:
        self._registrations = list(registrations)
        self._host = host
        self._requested_port = port
        self._extra_interceptors = list(interceptors)
        self._service_name = service_name
        # Services reflection describes without this server serving them.
        self._described = [s for s in described_services if s not in {r.full_name for r in registrations}]
        self._server: grpc.aio.Server | None = None
        self.health = HealthServicer()
        self.port = 0

    @property
    def address(self) -> str:
        return f"{self._host}:{self.port}"

    async def start(self) -> int:
        tracing.configure(self._service_name)
        server = grpc.aio.server(
            interceptors=[tracing.server_interceptor(), *self._extra_interceptors, ErrorInterceptor()],
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ],
        )
        names = [r.full_name for r in self._registrations]
        for reg in self._registrations:
            reg.add_to_server(reg.servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            [
                *names,
                *self._described,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            server,
        )
        self.port = server.add_insecure_port(f"{self._host}:{self._requested_port}")
        if self.port == 0:
            raise OSError(f"cannot bind {self._host}:{self._requested_port}")
        await server.start()
        self._server = server
        for name in ["", *names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("grpc server listening", extra={"address": self.address, "services": ",".join(names)})
        return self.port

    async def stop(self, grace: float = 5.0) -> None:
        if self._server is None:
            return
        await self.health.enter_graceful_shutdown()
        await self._server.stop(grace)
        self._server = None

    async def wait(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()
