"""The built portal at / (single-page-app fallback) and the OpenAPI document at /api/openapi.json."""

from __future__ import annotations

from pathlib import Path

import httpx

from control_plane.app import ControlPlane
from gateway import Gateway
from gateway.openapi import build_openapi


async def test_openapi_document_is_served(client: httpx.AsyncClient, gateway: Gateway) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document == build_openapi(gateway.contract)  # validated in tests/unit/gateway


async def test_portal_is_served_with_spa_fallback(
    control_plane: ControlPlane, tmp_path: Path, admin_key: str
) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>ccplane</title>")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.js").write_text("console.log('ccplane')")
    gateway = Gateway(control_plane.address, portal_dir=tmp_path)
    await gateway.start()
    try:
        async with httpx.AsyncClient(
            base_url=gateway.url, timeout=10.0, headers={"authorization": f"Bearer {admin_key}"}
        ) as http:
            index = await http.get("/")
            assert index.status_code == 200 and "<title>ccplane</title>" in index.text
            assert index.headers["cache-control"] == "no-cache", "a new build must show at once"
            asset = await http.get("/assets/app.js")
            assert asset.status_code == 200 and "console.log" in asset.text
            assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
            deep_link = await http.get("/runs/run_123")
            assert deep_link.status_code == 200 and "<title>ccplane</title>" in deep_link.text
            assert deep_link.headers["cache-control"] == "no-cache"
            api_miss = await http.get("/api/not-a-route")
            assert api_miss.status_code == 404
            assert api_miss.headers["content-type"] == "application/json"
            assert (await http.get("/api/runs")).status_code == 200
    finally:
        await gateway.stop()


async def test_without_a_portal_only_the_api_answers(client: httpx.AsyncClient) -> None:
    assert (await client.get("/")).status_code == 404
