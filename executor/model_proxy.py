"""The model proxy: a session reaches the model without ever holding its credential.

Each session that uses a keyed model endpoint (``CCPLANE_MODEL_BASE_URL``, or
OpenAI's) gets a proxy of its own, on a socket in the session's network
namespace when the session is confined (``executor.confinement``), on the
executor's loopback otherwise. Codex's ``base_url`` points at it and its API
key is a token made for this session only; the proxy checks that token,
swaps in the real key and streams the request and the answer through. The
token is useless elsewhere and dies with the session, so the real key is in
neither the session's environment nor its files, whatever a run's commands
read. This is also where usage can be metered and budgets enforced later.

Only requests under ``/v1/`` with the session's token are forwarded;
anything else is 401/404, and an unreachable upstream is 502. Sessions that
use a Codex login (``CCPLANE_MODEL_USE_CODEX_LOGIN``) talk to OpenAI
themselves: that flow keeps its ``auth.json`` and does not go through here.

A stalled model (``CCPLANE_MODEL_STALL_TIMEOUT``): Codex times out a stream
that goes silent once it has begun, but waits for ever for an answer that
never starts. So the proxy answers 504 when the upstream has sent no response
head within the stall timeout, and gives up on a body that stays silent a
little longer than that (Codex's own, clearer, error comes first; the
session then sees a body cut short, which fails its turn too).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import socket
from typing import TYPE_CHECKING

import httpx
import uvicorn
from starlette.types import Receive, Scope, Send

from common.http_server import EmbeddedServer, listening_socket

if TYPE_CHECKING:
    from executor.providers.codex.config import ModelConfig

log = logging.getLogger(__name__)

TOKEN_PREFIX = "ccm_"
PREFIX = "/v1/"
# Hop-by-hop headers, and those the proxy sets itself.
_DROPPED = frozenset(
    {
        "authorization",
        "connection",
        "content-length",
        "host",
        "keep-alive",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Connecting is quick or broken; an answer streams for as long as the model
# makes progress (the read timeout is the session's stall timeout, plus
# _STALL_GRACE_S during the body, where Codex enforces it first).
_CONNECT_S = 10.0
_WRITE_S = 60.0
_STALL_GRACE_S = 5.0
# Codex keeps its connection between requests, across long approvals: the
# proxy must not close an idle one under it.
_KEEP_ALIVE_S = 3600


class ModelProxy:
    """One session's proxy to ``upstream``'s endpoint; ``start()`` then ``stop()``."""

    def __init__(self, upstream: ModelConfig, *, run_id: str = "", sock: socket.socket | None = None) -> None:
        # Imported here: the codex package imports this module (its sessions own proxies).
        from executor.providers.codex.config import DEFAULT_BASE_URL

        if not upstream.api_key:
            raise ValueError("the model proxy needs the model's API key")
        self._upstream_base = (upstream.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._api_key = upstream.api_key
        self.stall_timeout = upstream.stall_timeout
        self.run_id = run_id
        # What the session presents instead of the key.
        self.token = TOKEN_PREFIX + secrets.token_urlsafe(24)
        self._sock = sock
        self._client: httpx.AsyncClient | None = None
        self._server: EmbeddedServer | None = None
        self._serving: asyncio.Task[None] | None = None
        self.port = sock.getsockname()[1] if sock is not None else 0

    def __repr__(self) -> str:  # keep the key and the token out of logs
        return f"ModelProxy(run_id={self.run_id!r}, port={self.port})"

    @property
    def base_url(self) -> str:
        """The ``base_url`` the session uses (loopback of its own network)."""
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        timeout = httpx.Timeout(
            connect=_CONNECT_S,
            read=self.stall_timeout + _STALL_GRACE_S,
            write=_WRITE_S,
            pool=_CONNECT_S,
        )
        self._client = httpx.AsyncClient(timeout=timeout)
        sock = self._sock or listening_socket("127.0.0.1", 0)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_keep_alive=_KEEP_ALIVE_S,
        )
        self._server = EmbeddedServer(config)
        self._serving = asyncio.create_task(
            self._server.serve(sockets=[sock]), name=f"model-proxy-{self.run_id}"
        )
        ready = asyncio.ensure_future(self._server.ready.wait())
        await asyncio.wait({ready, self._serving}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            await self.stop()
            raise RuntimeError("the model proxy could not start")

    async def stop(self) -> None:
        """Stop serving; the token is dead from now on."""
        self.token = ""
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            self._server.force_exit = True  # the session is gone: no request is worth waiting for
            try:
                await asyncio.wait_for(asyncio.shield(self._serving), 5.0)
            except TimeoutError:
                self._serving.cancel()
        self._server = self._serving = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- the ASGI application ----------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if not path.startswith(PREFIX):
            await _refuse(send, 404, "not a model API path")
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        scheme, _, presented = headers.get("authorization", "").partition(" ")
        if not (
            self.token
            and scheme.lower() == "bearer"
            and hmac.compare_digest(presented.strip().encode(), self.token.encode())
        ):
            await _refuse(send, 401, "unknown or expired session token")
            return
        assert self._client is not None
        body = await _read_body(receive)
        if body is None:
            return  # the session hung up
        url = self._upstream_base + path[len(PREFIX) - 1 :]
        query = scope.get("query_string", b"").decode("latin-1")
        forwarded = {k: v for k, v in headers.items() if k not in _DROPPED}
        forwarded["authorization"] = f"Bearer {self._api_key}"
        request = self._client.build_request(
            scope["method"], url + (f"?{query}" if query else ""), headers=forwarded, content=body
        )
        try:
            async with asyncio.timeout(self.stall_timeout):
                upstream = await self._client.send(request, stream=True)
        except TimeoutError:
            log.warning(
                "model upstream sent no answer",
                extra={"run_id": self.run_id, "timeout_s": self.stall_timeout},
            )
            await _refuse(
                send,
                504,
                f"the model endpoint sent no answer within {self.stall_timeout:g}s "
                "(CCPLANE_MODEL_STALL_TIMEOUT)",
            )
            return
        except httpx.HTTPError as exc:
            log.warning("model upstream unreachable", extra={"run_id": self.run_id, "error": str(exc)})
            await _refuse(send, 502, "the model endpoint cannot be reached")
            return
        try:
            response_headers = [
                (k.encode("latin-1"), v.encode("latin-1"))
                for k, v in upstream.headers.items()
                if k.lower() not in _DROPPED
            ]
            await send(
                {"type": "http.response.start", "status": upstream.status_code, "headers": response_headers}
            )
            # Raw bytes, as the upstream encoded them (its content-encoding is kept).
            async for chunk in upstream.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        except httpx.HTTPError as exc:
            log.warning("model upstream broke off", extra={"run_id": self.run_id, "error": str(exc)})
        finally:
            await upstream.aclose()


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body (None when the client disconnected first)."""
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": {"message": message, "type": "ccplane_model_proxy"}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
