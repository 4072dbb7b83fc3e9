"""Signing in from a browser: the session cookie, and CSRF protection.

A browser's ``EventSource`` cannot send an ``authorization`` header, and an
API key must never sit where a script can read it. ``POST /api/session``
(body ``{"apiKey": "…"}``) trades the key for a session token (the control
plane's ``SessionService.CreateSession``, authenticated by that key) and
answers with it in an ``HttpOnly``, ``SameSite=Strict``, ``Path=/`` cookie;
the key is not kept, and the token never appears in a body.
``DELETE /api/session`` ends the session and clears the cookie.
``GET /api/session`` (transcoded like any route) says who is signed in.

:class:`CookieAuth` wraps the whole application: a request under ``/api``
without an ``authorization`` header but with the cookie goes upstream as
``authorization: Bearer <token>``, so the control plane authenticates it
exactly like a key (same tenant, same role; a revoked key ends its
sessions). Unsafe methods authenticated by the cookie must come from the
gateway's own origin (``Origin``, else ``Referer``) or one of
``CCPLANE_GATEWAY_ALLOWED_ORIGINS``: a page elsewhere cannot act with the
cookie even where ``SameSite`` is not enforced. Requests with their own
``authorization`` header are not cookie-authenticated and not checked.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

import grpc
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ccplane.v1 import sessions_pb2, sessions_pb2_grpc
from common.errors import FieldViolation
from gateway.errors import error_headers, gateway_status, http_status, status_from_rpc_error, status_json
from gateway.transcode import message_to_json

COOKIE = "ccplane_session"
SESSION_PATH = "/api/session"
COOKIE_AUTH_KEY = "ccplane.cookie_auth"
JSON = "application/json"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TOKEN = re.compile(r"[A-Za-z0-9_\-]{1,200}")
_MAX_BODY = 16 * 1024


def session_token(headers: Headers) -> str:
    """The session cookie's token ("" when absent or malformed)."""
    raw = headers.get("cookie")
    if not raw:
        return ""
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(raw)
    except Exception:
        return ""
    morsel = cookie.get(COOKIE)
    token = morsel.value if morsel is not None else ""
    return token if _TOKEN.fullmatch(token) else ""


def _is_https(scope: Scope, headers: Headers) -> bool:
    forwarded = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return (forwarded or scope.get("scheme", "http")) == "https"


def own_origin(scope: Scope, headers: Headers) -> str:
    host = headers.get("host", "")
    return f"{'https' if _is_https(scope, headers) else 'http'}://{host}".lower()


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def request_origin(headers: Headers) -> str:
    """Where the request says it comes from: ``Origin``, else the origin of ``Referer``."""
    origin = headers.get("origin", "").strip()
    if origin:
        return "" if origin == "null" else origin.rstrip("/").lower()
    return _origin_of(headers.get("referer", ""))


class OriginPolicy:
    """Which origins may act with the session cookie: the gateway's own, plus those configured."""

    def __init__(self, allowed_origins: Iterable[str] = ()) -> None:
        self.allowed = frozenset(o.strip().rstrip("/").lower() for o in allowed_origins if o.strip())

    def allows(self, scope: Scope, headers: Headers) -> bool:
        origin = request_origin(headers)
        return bool(origin) and (origin == own_origin(scope, headers) or origin in self.allowed)


class CookieAuth:
    """ASGI middleware: the session cookie as the bearer credential, with an origin check."""

    def __init__(self, app: ASGIApp, origins: OriginPolicy, pool: Any) -> None:
        self.app = app
        self._origins = origins
        self._pool = pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        token = "" if "authorization" in headers else session_token(headers)
        if token:
            if scope["method"] not in SAFE_METHODS and not self._origins.allows(scope, headers):
                await _send_csrf_refusal(send, self._pool)
                return
            scope = dict(scope)
            scope["headers"] = [*scope["headers"], (b"authorization", b"Bearer " + token.encode())]
            scope[COOKIE_AUTH_KEY] = True
        await self.app(scope, receive, send)


async def _send_csrf_refusal(send: Send, pool: Any) -> None:
    status = gateway_status(
        grpc.StatusCode.PERMISSION_DENIED,
        "CSRF_CHECK_FAILED",
        "a request authenticated by the session cookie must come from the workbench's own origin",
    )
    body = status_json(status, pool)
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", JSON.encode()), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SessionEndpoint:
    """``POST`` and ``DELETE /api/session``: sign in and sign out."""

    def __init__(self, channel: grpc.aio.Channel, pool: Any, origins: OriginPolicy) -> None:
        self._stub = sessions_pb2_grpc.SessionServiceStub(channel)
        self._pool = pool
        self._origins = origins

    def _error(self, status: Any, *, clear: bool = False) -> Response:
        response = Response(
            status_json(status, self._pool),
            status_code=http_status(status.code),
            media_type=JSON,
            headers={k.decode(): v.decode() for k, v in error_headers(status)},
        )
        if clear:
            _clear_cookie(response)
        return response

    def _bad_request(self, field: str, description: str) -> Response:
        return self._error(
            gateway_status(
                grpc.StatusCode.INVALID_ARGUMENT,
                "INVALID_ARGUMENT",
                f"{field}: {description}",
                [FieldViolation(field, description)],
                field=field,
            )
        )

    async def sign_in(self, request: Request) -> Response:
        if request.headers.get("origin") and not self._origins.allows(request.scope, request.headers):
            # A page elsewhere must not sign this browser in (login CSRF).
            return self._error(
                gateway_status(
                    grpc.StatusCode.PERMISSION_DENIED,
                    "CSRF_CHECK_FAILED",
                    "sign in from the workbench's own origin",
                )
            )
        body = await request.body()
        if len(body) > _MAX_BODY:
            return self._bad_request("api_key", "the request body is too large")
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            return self._bad_request("api_key", 'the body must be JSON: {"apiKey": "…"}')
        key = document.get("apiKey", document.get("api_key")) if isinstance(document, dict) else None
        if not isinstance(key, str) or not key.strip():
            return self._bad_request("api_key", "enter an API key")
        key = key.strip()
        if not key.isascii() or not key.isprintable():
            return self._bad_request("api_key", "an API key is printable ASCII")
        try:
            created = await self._stub.CreateSession(
                sessions_pb2.CreateSessionRequest(), metadata=[("authorization", f"Bearer {key}")]
            )
        except grpc.aio.AioRpcError as error:
            return self._error(status_from_rpc_error(error))
        response = Response(message_to_json(created.session, self._pool), media_type=JSON)
        max_age = max(0, int(created.session.expire_time.seconds - time.time()))
        response.set_cookie(
            COOKIE,
            created.token,
            max_age=max_age,
            path="/",
            httponly=True,
            samesite="strict",
            secure=_is_https(request.scope, request.headers),
        )
        response.headers["cache-control"] = "no-store"
        return response

    async def sign_out(self, request: Request) -> Response:
        # CookieAuth has turned the cookie into the bearer credential (and checked the origin).
        if request.scope.get(COOKIE_AUTH_KEY):
            metadata = [("authorization", request.headers["authorization"])]
            try:
                await self._stub.DeleteSession(sessions_pb2.DeleteSessionRequest(), metadata=metadata)
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.UNAUTHENTICATED:  # already ended: signed out anyway
                    return self._error(status_from_rpc_error(error))
        response = Response(b"{}", media_type=JSON)
        _clear_cookie(response)
        return response


def _clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
