"""The Alerts page in Chromium: the nav's count of open alerts, the list and
its filters, acknowledging an alert, paging with Load more; and what a
person who is not an administrator sees.

Alerts are rows of ``reconcile_alerts`` written straight into the stack's
database: raising a real one takes minutes (a run queued past
``CCPLANE_QUEUED_ALERT_AFTER``) or a lost executor. The kinds used here do
not clear by themselves (``lost_expired``, ``start_timeout``), so the
reconciler leaves them open until the page acknowledges them.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import UTC, datetime, timedelta

import httpx
from playwright.async_api import Locator, Page, expect

from common.db import models
from common.db.engine import Database
from control_plane.auth import DEFAULT_TENANT
from tests.browser.conftest import KeyFactory, sign_in
from tests.browser.gateway_process import GatewayProcess
from tests.browser.test_accessibility import assert_every_control_is_named
from tests.browser.workbench import SEEN_MS, docs_screenshot, my_key_id, ok, rest

ALERTS_PATH = "/api/reconcile/alerts"
PAGE_SIZE = 50  # the page's page size (portal/src/features/alerts/model.ts)


async def insert_alert(
    db: Database,
    message: str,
    *,
    kind: str = "lost_expired",
    severity: str = "critical",
    run_id: str | None = None,
    resolved: bool = False,
) -> str:
    """A new alert of the default tenant; its id as the API spells it (a string)."""
    ids = await insert_alerts(db, [message], kind=kind, severity=severity, run_id=run_id, resolved=resolved)
    return ids[0]


async def insert_alerts(
    db: Database,
    messages: list[str],
    *,
    kind: str,
    severity: str = "warning",
    run_id: str | None = None,
    resolved: bool = False,
) -> list[str]:
    now = datetime.now(UTC)
    rows = [
        models.ReconcileAlert(
            kind=kind,
            severity=severity,
            run_id=run_id,
            tenant_id=DEFAULT_TENANT,
            message=message,
            details={"raised_by": "test_workbench_alerts"},
            created_at=now - timedelta(minutes=3),
            resolved_at=now if resolved else None,
        )
        for message in messages
    ]
    async with db.session() as session, session.begin():
        session.add_all(rows)
        await session.flush()
        return [str(row.id) for row in rows]


async def open_alert_ids(client: httpx.AsyncClient) -> set[str]:
    data = ok(await client.get(ALERTS_PATH, params={"state": "ALERT_STATE_OPEN", "page_size": 500}))
    assert not data.get("nextPageToken"), "more open alerts than one page: the count below would be wrong"
    return {alert["id"] for alert in data.get("alerts", [])}


def nav_alerts(page: Page) -> Locator:
    """The nav's Alerts link; its name carries the count ("Alerts 2 open")."""
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile(r"^Alerts\b"))


async def expect_badge_shows_open_alerts(page: Page, client: httpx.AsyncClient) -> set[str]:
    """The nav badge shows as many alerts as the API lists open (the reconciler
    of the shared stack may raise or clear one meanwhile: read both again
    until they agree, for at most SEEN_MS). Returns the open alerts' ids."""
    deadline = asyncio.get_running_loop().time() + SEEN_MS / 1000
    while True:
        open_ids = await open_alert_ids(client)
        name = f"Alerts {len(open_ids)} open" if open_ids else "Alerts"
        try:
            await expect(nav_alerts(page)).to_have_accessible_name(name, timeout=3_000)
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
        else:
            return open_ids


def alerts_table(page: Page) -> Locator:
    return page.get_by_role("table", name="Alerts")


def alert_row(page: Page, message: str) -> Locator:
    return alerts_table(page).get_by_role("row").filter(has_text=message)


async def choose_state(page: Page, label: str) -> None:
    await page.get_by_role("combobox", name="State").select_option(label=label)


async def test_acknowledge_an_alert(
    signed_in_page: Page, gateway: GatewayProcess, api_key: str, platform_database: Database
) -> None:
    page = signed_in_page
    token = secrets.token_hex(4)
    message = f"Run lost its executor and failed ({token})"
    run_id = f"run_alerts_{token}"
    alert_id = await insert_alert(platform_database, message, run_id=run_id)

    async with rest(gateway, api_key) as client:
        await page.goto("/alerts")
        await expect(page.get_by_role("heading", level=1, name="Alerts")).to_be_visible()
        await expect(page.get_by_role("combobox", name="State")).to_have_value("open")
        open_before = await expect_badge_shows_open_alerts(page, client)
        assert alert_id in open_before

        row = alert_row(page, message)
        await expect(row).to_be_visible(timeout=SEEN_MS)
        await expect(row).to_contain_text("Critical")
        await expect(row).to_contain_text("Executor lost")
        await expect(row).to_contain_text(DEFAULT_TENANT)
        await expect(row).to_contain_text("Open")
        await expect(row.get_by_role("link", name=run_id)).to_have_attribute("href", f"/runs/{run_id}")
        raised = row.locator("time")
        await expect(raised).to_have_text("3 minutes ago")
        await expect(raised).to_have_attribute("title", re.compile(r"\d"))
        await assert_every_control_is_named(page, "/alerts with an open alert")
        await docs_screenshot(page, "alerts.png")

        await row.get_by_role("button", name="Acknowledge").click()

        # The row stays where it was, acknowledged by this key, with nothing left to click.
        await expect(row).to_contain_text("Acknowledged", timeout=SEEN_MS)
        await expect(row).to_contain_text("by you")
        await expect(row.get_by_role("button")).to_have_count(0)
        await expect(page.get_by_role("alert")).to_have_count(0)
        stored = ok(await client.get(ALERTS_PATH, params={"run_id": run_id}))["alerts"]
        assert [(a["id"], a["state"]) for a in stored] == [(alert_id, "ALERT_STATE_ACKNOWLEDGED")]
        assert stored[0]["acknowledgedBy"] == await my_key_id(page)

        # The badge drops: it counts the open alerts again, this one no longer among them.
        open_after = await expect_badge_shows_open_alerts(page, client)
        assert alert_id not in open_after

    # Under Acknowledged it is listed; under Open (the default) it is gone.
    await choose_state(page, "Acknowledged")
    await expect(page).to_have_url(re.compile(r"/alerts\?state=acknowledged$"))
    await expect(alert_row(page, message)).to_contain_text("Acknowledged", timeout=SEEN_MS)
    await choose_state(page, "Open")
    await expect(page).to_have_url(re.compile(r"/alerts$"))
    await expect(page.get_by_text(message)).to_have_count(0, timeout=SEEN_MS)

    # A reload shows the same: the filter is in the URL, the state on the server.
    await page.goto("/alerts?state=all")
    await expect(alert_row(page, message)).to_contain_text("Acknowledged", timeout=SEEN_MS)


async def test_filters_paging_and_the_empty_list(signed_in_page: Page, platform_database: Database) -> None:
    page = signed_in_page
    token = secrets.token_hex(4)
    kind = f"paging_{token}"
    messages = [f"Paged alert {i:02d} ({token})" for i in range(PAGE_SIZE + 3)]
    await insert_alerts(platform_database, messages, kind=kind, resolved=True)
    warning = f"Run stuck starting ({token})"
    await insert_alert(platform_database, warning, kind="start_timeout", severity="warning", run_id=None)

    # Resolved alerts of one kind: a page of PAGE_SIZE, newest first, then Load more.
    await page.goto(f"/alerts?state=resolved&kind={kind}")
    await expect(page.get_by_role("combobox", name="Kind")).to_have_value(kind)
    rows = alerts_table(page).get_by_role("row").filter(has_text=token)
    await expect(rows).to_have_count(PAGE_SIZE, timeout=SEEN_MS)
    await expect(rows.first).to_contain_text(messages[-1])
    await expect(rows.first).to_contain_text("Resolved")
    await page.get_by_role("button", name="Load more").click()
    await expect(rows).to_have_count(len(messages), timeout=SEEN_MS)
    await expect(rows.last).to_contain_text(messages[0])
    await expect(page.get_by_role("button", name="Load more")).to_have_count(0)

    # Severity: the open start_timeout alert is a warning, not critical. It has no run.
    await page.goto("/alerts?kind=start_timeout")
    row = alert_row(page, warning)
    await expect(row).to_contain_text("Warning", timeout=SEEN_MS)
    await expect(row).to_contain_text("Start timed out")
    await expect(row.get_by_role("link")).to_have_count(0)
    await page.get_by_role("combobox", name="Severity").select_option(label="Critical")
    await expect(page).to_have_url(re.compile(r"severity=critical"))
    await expect(page.get_by_text(warning)).to_have_count(0, timeout=SEEN_MS)

    # Nothing matches: the page says so in words.
    await page.goto(f"/alerts?kind=nothing_{token}")
    await expect(page.get_by_text("No open alerts match these filters.")).to_be_visible(timeout=SEEN_MS)
    await choose_state(page, "All")
    await expect(page.get_by_text("No alerts match these filters.")).to_be_visible(timeout=SEEN_MS)


async def test_a_user_who_is_not_an_administrator_is_told_so(
    page: Page, tenant_key: KeyFactory, platform_database: Database
) -> None:
    token = secrets.token_hex(4)
    message = f"Not for users ({token})"
    await insert_alert(platform_database, message)
    await sign_in(page, await tenant_key(role="user"))

    await page.goto("/alerts")
    await expect(page.get_by_role("heading", level=1, name="Alerts")).to_be_visible()
    await expect(page.get_by_text("Alerts are visible to administrators.")).to_be_visible(timeout=SEEN_MS)
    await expect(page.get_by_role("alert")).to_have_count(0)
    await expect(page.get_by_role("table")).to_have_count(0)
    await expect(page.get_by_text(message)).to_have_count(0)
    # The nav has no Alerts link (nor a count) for someone who cannot see them.
    await expect(page.get_by_role("link", name=re.compile(r"^Inbox"))).to_be_visible()
    await expect(nav_alerts(page)).to_have_count(0)
