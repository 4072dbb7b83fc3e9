"""The gateway's ASGI application: health, metrics, OpenAPI, ``/api`` and the portal.

``/api/openapi.json`` and everything else under ``/api`` answer JSON;
``/healthz`` reports whether the control plane's ``grpc.health.v1`` says
SERVING; the built portal (``portal/dist``) is served at ``/`` when present,
with paths that are not files falling back to ``index.html`` (the portal
routes on the client). Hashed assets (``/assets/…``) are cached for a year;
``index.html`` is revalidated on every load, so a new build is picked up at
once. ``POST``/``DELETE /api/session`` sign a browser in and out, and the
session cookie authenticates every ``/api`` request (:mod:`gateway.session`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Match, Mount, NoMatchFound, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.metrics import CONTENT_TYPE, GatewayMetrics, MetricsMiddleware
from gateway.session import SESSION_PATH, CookieAuth, OriginPolicy, SessionEndpoint
from gateway.transcoder import ROUTE_KEY, Transcoder
from gateway.upload import UPLOAD_PATH, UploadEndpoint

API_PREFIX = "/api"
OPENAPI_PATH = "/api/openapi.json"
# Vite names built assets by content hash: they never change under one name.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


class ApiRoute(BaseRoute):
    """Every path under ``/api``: the transcoder answers (404/405 included)."""

    def __init__(self, transcoder: Transcoder) -> None:
        self.transcoder = transcoder

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            path = scope["path"]
            if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
                return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.transcoder(scope, receive, send)


class PortalFiles(StaticFiles):
    """Static files with a single-page-app fallback to ``index.html``."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404:
                raise
            response = Response(status_code=404)
        if response.status_code == 404 and scope["method"] in ("GET", "HEAD"):
            index = Path(str(self.directory)) / "index.html"
            if index.is_file():
                response = FileResponse(index)
                response.headers["cache-control"] = REVALIDATE
                return response
        if response.status_code in (200, 304):
            hashed = path.replace("\\", "/").startswith("assets/")
            response.headers["cache-control"] = IMMUTABLE if hashed else REVALIDATE
        return response


def build_app(
    transcoder: Transcoder,
    channel: grpc.aio.Channel,
    metrics: GatewayMetrics,
    openapi: dict[str, Any],
    *,
    portal_dir: Path | None = None,
    health_timeout: float = 2.0,
    allowed_origins: tuple[str, ...] = (),
) -> ASGIApp:
    openapi_body = json.dumps(openapi, separators=(",", ":")).encode()
    health = health_pb2_grpc.HealthStub(channel)

    async def healthz(request: Request) -> Response:
        request.scope[ROUTE_KEY] = "/healthz"
        try:
            reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=health_timeout)
            serving = reply.status == health_pb2.HealthCheckResponse.SERVING
            state = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.aio.AioRpcError as exc:
            serving, state = False, f"UNREACHABLE ({exc.code().name})"
        body = {"status": "SERVING" if serving else "NOT_SERVING", "controlPlane": state}
        return JSONResponse(body, status_code=200 if serving else 503)

    async def metrics_endpoint(request: Request) -> Response:
        request.scope[ROUTE_KEY] = "/metrics"
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    async def openapi_endpoint(request: Request) -> Response:
        request.scope[ROUTE_KEY] = OPENAPI_PATH
        return Response(openapi_body, media_type="application/json")

    origins = OriginPolicy(allowed_origins)
    sessions = SessionEndpoint(channel, transcoder.contract.pool, origins)

    routes: list[BaseRoute] = [
        Route(SESSION_PATH, sessions.sign_in, methods=["POST"]),
        Route(SESSION_PATH, sessions.sign_out, methods=["DELETE"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route(OPENAPI_PATH, openapi_endpoint, methods=["GET"]),
        Route(UPLOAD_PATH, UploadEndpoint(channel, transcoder.contract.pool).handle, methods=["POST"]),
        ApiRoute(transcoder),
    ]
    if portal_dir is not None and portal_dir.is_dir():
        routes.append(Mount("/", app=PortalFiles(directory=portal_dir, html=True)))
    app = CookieAuth(Starlette(routes=routes), origins, transcoder.contract.pool)
    return MetricsMiddleware(app, metrics)
