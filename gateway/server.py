"""``Gateway``: the REST + SSE front door hosted in-process by uvicorn.

``ccplane up`` and the tests start it next to the control plane; ``python -m
gateway`` runs it alone. Shutdown runs in phases: end the event streams
(their upstream calls are cancelled, so the responses finish), stop
accepting and let in-flight requests finish (bounded), close the channels.

Event streams go upstream over a channel of their own whose HTTP/2 stream
windows stay at 64 KiB (no BDP probing): a stream whose SSE client stopped
reading holds that much here, not the few MiB an auto-tuned window lets the
control plane send ahead. Unary calls keep the auto-tuned channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import grpc
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from common.http_server import EmbeddedServer, listening_socket
from common.settings import Settings
from gateway.app import build_app
from gateway.contract import Contract
from gateway.metrics import GatewayMetrics
from gateway.openapi import build_openapi
from gateway.sse import ABORT_EXTENSION, StreamOptions, StreamRegistry
from gateway.transcoder import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_UNARY_TIMEOUT_S,
    Transcoder,
    TranscoderOptions,
)

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
ALLOWED_ORIGINS_ENV = "CCPLANE_GATEWAY_ALLOWED_ORIGINS"
GRACEFUL_SHUTDOWN_S = 5.0
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]
STREAM_CHANNEL_OPTIONS = [*CHANNEL_OPTIONS, ("grpc.http2.bdp_probe", 0)]


class AbortableH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, offering the app a way to abort the connection.

    ASGI can only close a response by completing it, which waits for the
    client to read what is buffered: never, for a client that stopped
    reading. Each request's scope gets :data:`~gateway.sse.ABORT_EXTENSION`,
    which drops the connection at once.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        app: ASGIApp = self.app

        async def with_abort(scope: Scope, receive: Receive, send: Send) -> None:
            scope.setdefault("extensions", {})[ABORT_EXTENSION] = self._abort
            await app(scope, receive, send)

        self.app = with_abort

    def _abort(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()


class Gateway:
    """REST/SSE gateway in front of the control plane at ``control_plane_address``."""

    def __init__(
        self,
        control_plane_address: str,
        *,
        portal_dir: Path | str | None = None,
        descriptor_set: Path | str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        keepalive_interval: float = 15.0,
        first_event_grace: float = 1.0,
        unary_timeout: float | None = DEFAULT_UNARY_TIMEOUT_S,
        health_timeout: float = 2.0,
        allowed_origins: tuple[str, ...] | None = None,
        stream_write_timeout: float | None = None,
    ) -> None:
        """``stream_write_timeout``: how long an SSE client may take no frame
        before it is dropped (default ``CCPLANE_STREAM_WRITE_TIMEOUT``)."""
        if stream_write_timeout is None:
            stream_write_timeout = Settings().stream_write_timeout
        self.control_plane_address = control_plane_address
        self.portal_dir = Path(portal_dir) if portal_dir is not None else None
        self.contract = Contract.load(Path(descriptor_set) if descriptor_set is not None else None)
        self.openapi = build_openapi(self.contract)
        self.streams = StreamRegistry()
        self.metrics = GatewayMetrics(self.streams)
        self.options = TranscoderOptions(
            max_body_bytes=max_body_bytes,
            stream=StreamOptions(
                keepalive_interval=keepalive_interval,
                first_event_grace=first_event_grace,
                write_timeout=stream_write_timeout,
            ),
            unary_timeout=unary_timeout,
        )
        self._health_timeout = health_timeout
        # Origins besides the gateway's own that may act with the session cookie.
        if allowed_origins is None:
            configured = os.environ.get(ALLOWED_ORIGINS_ENV, "")
            allowed_origins = tuple(o for o in configured.split(",") if o.strip())
        self.allowed_origins = allowed_origins
        self._channel: grpc.aio.Channel | None = None
        self._stream_channel: grpc.aio.Channel | None = None
        self._server: EmbeddedServer | None = None
        self._serving: asyncio.Task[None] | None = None
        self.host = ""
        self.port = 0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (0: any free port); returns once requests are accepted."""
        self._channel = grpc.aio.insecure_channel(self.control_plane_address, options=CHANNEL_OPTIONS)
        self._stream_channel = grpc.aio.insecure_channel(
            self.control_plane_address, options=STREAM_CHANNEL_OPTIONS
        )
        transcoder = Transcoder(
            self.contract, self._channel, self.options, self.streams, stream_channel=self._stream_channel
        )
        app = build_app(
            transcoder,
            self._channel,
            self.metrics,
            self.openapi,
            portal_dir=self.portal_dir,
            health_timeout=self._health_timeout,
            allowed_origins=self.allowed_origins,
        )
        sock = listening_socket(host, port)
        self.host, self.port = host, sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            http=AbortableH11Protocol,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=int(GRACEFUL_SHUTDOWN_S),
        )
        self._server = EmbeddedServer(config)
        self._serving = asyncio.create_task(self._server.serve(sockets=[sock]), name="gateway-http")
        ready = asyncio.ensure_future(self._server.ready.wait())
        await asyncio.wait({ready, self._serving}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            await self.stop()
            raise RuntimeError(f"the gateway could not start on {host}:{port}")
        log.info("gateway listening", extra={"url": self.url, "control_plane": self.control_plane_address})

    async def stop(self) -> None:
        self.streams.cancel_all()
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(self._serving), GRACEFUL_SHUTDOWN_S + 2)
            except TimeoutError:
                self._server.force_exit = True
                self._serving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._serving
        self._server = None
        self._serving = None
        for channel in (self._channel, self._stream_channel):
            if channel is not None:
                await channel.close()
        self._channel = self._stream_channel = None
