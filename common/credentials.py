"""Credentials on the wire: bearer tokens, and the internal credential.

Users call the control plane with an API key (``authorization: Bearer
ccp_…``). The services call each other — control plane → executor-manager
and executors, executor → executor-manager, executor-manager → executors —
with a separate internal token (``cci_…``), which no user key can stand in
for: the executor-manager and the executors accept nothing else, and the
control plane does not accept it.

The internal token is ``CCPLANE_INTERNAL_TOKEN`` when set (production: one
secret shared by the deployment), else ``<data-dir>/internal.key``, created
with mode 0600 on first use, so processes sharing a data directory share it.
The executor-manager hands it to the executors it starts.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from common import tracing
from common.errors import unauthenticated
from common.grpc_server import CallGuard, bearer_token

INTERNAL_TOKEN_ENV = "CCPLANE_INTERNAL_TOKEN"
INTERNAL_PREFIX = "cci_"
INTERNAL_KEY_FILE = "internal.key"


def internal_token(data_dir: Path) -> str:
    """The deployment's internal token (see the module docstring)."""
    configured = os.environ.get(INTERNAL_TOKEN_ENV, "").strip()
    if configured:
        return configured
    path = data_dir / INTERNAL_KEY_FILE
    if path.is_file():
        existing = path.read_text().strip()
        if existing:
            return existing
    return write_secret(path, INTERNAL_PREFIX + secrets.token_urlsafe(32))


def write_secret(path: Path, secret: str) -> str:
    """Write ``secret`` to ``path`` with mode 0600, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    os.replace(tmp, path)
    return secret


class _Bearer:
    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details: Any) -> Any:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata.add(*self._header)
        return details._replace(metadata=metadata)


class _UnaryUnary(_Bearer, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _UnaryStream(_Bearer, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _StreamUnary(_Bearer, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


class _StreamStream(_Bearer, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


def bearer_interceptors(token: str) -> list[grpc.aio.ClientInterceptor]:
    """Client interceptors that send ``authorization: Bearer <token>`` with
    every call (grpc.aio files an interceptor under one call type only, so
    there is one per type)."""
    return [_UnaryUnary(token), _UnaryStream(token), _StreamUnary(token), _StreamStream(token)]


def authorized_channel(
    address: str, token: str, *, traced: bool = False, options: Sequence[tuple[str, Any]] | None = None
) -> grpc.aio.Channel:
    """A channel that sends ``token`` as its bearer credential.

    ``traced``: each call is a client span whose W3C context travels in the
    metadata (what services calling each other want; a client that sets its
    own ``traceparent`` does not)."""
    interceptors = [*(tracing.client_interceptors() if traced else ()), *bearer_interceptors(token)]
    return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)


class InternalAuth(CallGuard):
    """Admits only calls that carry the internal token."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("the internal token must not be empty")
        self._token = token.encode()

    async def admit(self, method: str, context: grpc.aio.ServicerContext) -> None:
        presented = bearer_token(context)
        if not presented:
            raise unauthenticated("MISSING_CREDENTIALS", "this service needs the internal credential")
        if not hmac.compare_digest(presented.encode(), self._token):
            raise unauthenticated(
                "INVALID_CREDENTIALS", "the credential is not this deployment's internal token"
            )
