"""The workbench's shell in Chromium: sign-in, deep links, sign-out, and how
the gateway serves the built portal."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect

from tests.browser.conftest import KeyFactory, sign_in
from tests.browser.gateway_process import GatewayProcess

DEEP_LINKS = ["/runs/run_x", "/inbox", "/workspaces/ws_x"]
ONE_YEAR_S = 365 * 24 * 3600


def on_sign_in(gateway: GatewayProcess) -> re.Pattern[str]:
    return re.compile(re.escape(gateway.url) + r"/sign-in(\?.*)?$")


async def test_a_valid_key_signs_in_and_lands_on_home(
    page: Page, gateway: GatewayProcess, api_key: str
) -> None:
    await page.goto("/sign-in")
    await page.get_by_role("textbox", name="API key").fill(api_key)
    await page.get_by_role("button", name="Sign in").click()

    await expect(page).to_have_url(f"{gateway.url}/")
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()


async def test_a_wrong_key_shows_an_alert_and_stays_on_sign_in(page: Page, gateway: GatewayProcess) -> None:
    await page.goto("/sign-in")
    await page.get_by_role("textbox", name="API key").fill("ccp_not_a_key_of_this_installation")
    await page.get_by_role("button", name="Sign in").click()

    await expect(page.get_by_role("alert")).to_be_visible()
    await expect(page).to_have_url(on_sign_in(gateway))
    await expect(page.get_by_role("textbox", name="API key")).to_be_visible()
    reply = await page.request.get("/api/session")
    assert reply.status == 401, "a refused key must not leave a session behind"


async def test_a_deep_link_goes_through_sign_in_and_comes_back(
    page: Page, gateway: GatewayProcess, api_key: str
) -> None:
    await page.goto("/runs/run_x")
    await expect(page).to_have_url(on_sign_in(gateway))

    await page.get_by_role("textbox", name="API key").fill(api_key)
    await page.get_by_role("button", name="Sign in").click()

    await expect(page).to_have_url(f"{gateway.url}/runs/run_x")


async def test_reloading_a_deep_link_keeps_the_app(signed_in_page: Page, gateway: GatewayProcess) -> None:
    page = signed_in_page
    for path in DEEP_LINKS:
        await page.goto(path)
        response = await page.reload()
        assert response is not None and response.status == 200, (
            f"reload of {path}: {response and response.status}"
        )
        assert response.headers["content-type"].startswith("text/html")
        await expect(page).to_have_url(f"{gateway.url}{path}")
        await expect(page.get_by_role("button", name="Sign out")).to_be_visible()


async def test_sign_out_ends_the_session(signed_in_page: Page, gateway: GatewayProcess) -> None:
    page = signed_in_page
    cookies = await page.context.cookies()
    assert cookies, "signing in should have set a session cookie"

    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(on_sign_in(gateway))

    await page.goto("/")
    await expect(page).to_have_url(on_sign_in(gateway))
    await page.goto("/runs/run_x")
    await expect(page).to_have_url(on_sign_in(gateway))

    # The session ended on the server, not only in this browser: its old
    # cookie no longer works.
    replayed = "; ".join(f"{c['name']}={c['value']}" for c in cookies)
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        reply = await client.get("/api/session", headers={"cookie": replayed})
    assert reply.status_code == 401, reply.text


async def test_a_session_survives_a_gateway_crash(signed_in_page: Page, gateway: GatewayProcess) -> None:
    page = signed_in_page
    await page.goto("/inbox")
    gateway.kill()
    await gateway.restart()

    await page.reload()
    await expect(page).to_have_url(f"{gateway.url}/inbox")
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()


async def test_hashed_assets_are_cached_for_good_and_the_html_never(
    page: Page, gateway: GatewayProcess
) -> None:
    for path in ["/", *DEEP_LINKS]:
        html = await page.request.get(path)
        assert html.status == 200, path
        assert html.headers.get("cache-control") == "no-cache", (path, html.headers.get("cache-control"))

    index = await (await page.request.get("/")).text()
    assets = sorted(set(re.findall(r'(?:src|href)="(/assets/[^"]+)"', index)))
    assert any(a.endswith(".js") for a in assets), f"no script under /assets/ in index.html: {assets}"
    for asset in assets:
        reply = await page.request.get(asset)
        assert reply.status == 200, asset
        directives = [d.strip() for d in reply.headers.get("cache-control", "").split(",")]
        assert "immutable" in directives, (asset, directives)
        max_age = [int(d.split("=", 1)[1]) for d in directives if d.startswith("max-age=")]
        assert max_age and max_age[0] >= ONE_YEAR_S, (asset, directives)


async def test_the_page_acts_as_the_tenant_of_its_key(page: Page, tenant_key: KeyFactory) -> None:
    await sign_in(page, await tenant_key("acme"))

    reply = await page.request.get("/api/session")
    assert reply.status == 200, await reply.text()
    session = (await reply.json())["session"]
    assert (session["tenantId"], session["role"]) == ("acme", "user")
    assert session["sessionId"], "the browser holds a session, not the key itself"
