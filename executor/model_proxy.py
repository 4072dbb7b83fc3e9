"""The model proxy: sessions reach the model without ever holding its credential.

The executor serves one loopback HTTP proxy in front of the model endpoint
(``CCPLANE_MODEL_BASE_URL``, or OpenAI's). Each session gets a token of its
own (:meth:`ModelProxy.grant`) and a ``base_url`` pointing here; Codex sends
that token as its API key, the proxy checks it, swaps in the real key and
streams the request and the answer through. A token is useless elsewhere and
dies with its session (:meth:`ModelProxy.revoke`), so the real key is in
neither a session's environment nor its files, whatever a run's commands
read. This is also where usage can be metered and budgets enforced later.

Only requests under ``/v1/`` with a live token are forwarded; anything else
is 401/404, and an unreachable upstream is 502. Sessions that use a Codex
login (``CCPLANE_MODEL_USE_CODEX_LOGIN``) talk to OpenAI themselves: that
flow keeps its ``auth.json`` and does not go through here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import uvicorn
from starlette.types import Receive, Scope, Send

from common.http_server import EmbeddedServer, listening_socket
from executor.providers.codex.config import DEFAULT_BASE_URL, ModelConfig

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
# Connecting is quick or broken; an answer streams for as long as the model thinks.
_TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=60.0, pool=10.0)


@dataclass(frozen=True)
class Grant:
    """What one session uses instead of the model's credential."""

    token: str
    base_url: str

    def __repr__(self) -> str:  # keep the token out of logs
        return f"Grant(base_url={self.base_url!r})"


class ModelProxy:
    """A loopback proxy to ``upstream``'s endpoint that adds its credential; ``start()`` then ``stop()``."""

    def __init__(self, upstream: ModelConfig, *, host: str = "127.0.0.1") -> None:
        if not upstream.api_key:
            raise ValueError("the model proxy needs the model's API key")
        self._upstream_base = (upstream.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._api_key = upstream.api_key
        self._host = host
        self._tokens: dict[str, str] = {}  # token -> run id
        self._client: httpx.AsyncClient | None = None
        self._server: EmbeddedServer | None = None
        self._serving: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}/v1"

    def grant(self, run_id: str) -> Grant:
        """A token for one session; valid until :meth:`revoke`."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(24)
        self._tokens[token] = run_id
        return Grant(token, self.base_url)

    def revoke(self, token: str) -> None:
        self._tokens.pop(token, None)

    @property
    def live_tokens(self) -> int:
        return len(self._tokens)

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=_TIMEOUT)
        sock = listening_socket(self._host, 0)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self, lifespan="off", log_config=None, access_log=False, server_header=False)
        self._server = EmbeddedServer(config)
        self._serving = asyncio.create_task(self._server.serve(sockets=[sock]), name="model-proxy")
        ready = asyncio.ensure_future(self._server.ready.wait())
        await asyncio.wait({ready, self._serving}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            await self.stop()
            raise RuntimeError("the model proxy could not start")

    async def stop(self) -> None:
        self._tokens.clear()
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(self._serving), 5.0)
            except TimeoutError:
                self._server.force_exit = True
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
        scheme, _, token = headers.get("authorization", "").partition(" ")
        run_id = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if run_id is None:
            await _refuse(send, 401, "unknown or expired session token")
            return
        assert self._client is not None
        url = self._upstream_base + path[len(PREFIX) - 1 :]
        query = scope.get("query_string", b"").decode("latin-1")
        forwarded = {k: v for k, v in headers.items() if k not in _DROPPED}
        forwarded["authorization"] = f"Bearer {self._api_key}"
        request = self._client.build_request(
            scope["method"], url + (f"?{query}" if query else ""), headers=forwarded, content=_body(receive)
        )
        try:
            upstream = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            log.warning("model upstream unreachable", extra={"run_id": run_id, "error": str(exc)})
            await _refuse(send, 502, "the model endpoint cannot be reached")
            return
        try:
            response_headers = [
                (k.encode("latin-1"), v.encode("latin-1"))
                for k, v in upstream.headers.items()
                if k.lower() not in _DROPPED and k.lower() != "content-encoding"
            ]
            await send(
                {"type": "http.response.start", "status": upstream.status_code, "headers": response_headers}
            )
            async for chunk in upstream.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        except httpx.HTTPError as exc:
            log.warning("model upstream broke off", extra={"run_id": run_id, "error": str(exc)})
        finally:
            await upstream.aclose()


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": {"message": message, "type": "ccplane_model_proxy"}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
