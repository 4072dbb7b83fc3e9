"""Every control of every page has an accessible name, and the keyboard reaches it.

The page's accessibility tree (Chromium's, through Playwright's ARIA
snapshot) is what a screen reader reads: a button, link, field or tab in it
without a name cannot be told apart from the others.
"""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.browser.gateway_process import GatewayProcess
from tests.browser.workbench import (
    RUN_DONE_MS,
    create_workspace,
    expect_run_status,
    rest,
    start_run,
    write_file,
)

# An ARIA snapshot line of a control: "- button", "- button "Approve"", "- textbox "Prompt" [disabled]".
CONTROL = re.compile(
    r"^\s*- (button|link|textbox|combobox|checkbox|radio|tab|treeitem|slider|spinbutton)\b(.*)$", re.MULTILINE
)
NAMED = re.compile(r'^\s+"[^"]+"')


def unnamed_controls(snapshot: str) -> list[str]:
    found = []
    for line in snapshot.splitlines():
        match = CONTROL.match(line)
        if match and not NAMED.match(match.group(2)):
            found.append(line.strip())
    return found


async def assert_every_control_is_named(page: Page, where: str) -> None:
    snapshot = await page.locator("body").aria_snapshot()
    assert CONTROL.search(snapshot) is not None, f"{where}: no control at all?\n{snapshot}"
    assert unnamed_controls(snapshot) == [], f"{where}: controls without an accessible name"


def test_the_check_finds_unnamed_controls() -> None:
    snapshot = '- button "Approve"\n- button\n  - img\n- textbox "Prompt" [disabled]\n- link:\n  - /url: /'
    assert unnamed_controls(snapshot) == ["- button", "- link:"]


async def test_every_page_names_its_controls(
    signed_in_page: Page, gateway: GatewayProcess, api_key: str
) -> None:
    page = signed_in_page
    run_id = await start_run(page, "[scenario:quick] write hello.txt")
    await expect_run_status(page, run_id, "succeeded", RUN_DONE_MS)
    await assert_every_control_is_named(page, f"/runs/{run_id}")

    async with rest(gateway, api_key) as client:
        workspace_id = await create_workspace(client, "a11y")
        await write_file(client, workspace_id, "notes.md", "hello\n", 0)
    for path in ("/", "/inbox", "/workspaces", f"/workspaces/{workspace_id}", "/alerts"):
        await page.goto(path)
        await expect(page.get_by_role("main")).to_be_visible()
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
        await assert_every_control_is_named(page, path)


async def test_the_keyboard_reaches_the_new_run_form(signed_in_page: Page) -> None:
    page = signed_in_page
    await page.goto("/")
    prompt = page.get_by_role("textbox", name="Prompt")
    await expect(prompt).to_be_visible()
    # Tab from the top of the page until the Prompt field has the focus.
    await page.locator("body").focus()
    for _ in range(40):
        await page.keyboard.press("Tab")
        if await prompt.evaluate("el => el === document.activeElement"):
            break
    else:
        raise AssertionError("Tab never reached the Prompt field")
    await page.keyboard.type("[scenario:chat] typed from the keyboard")
    start = page.get_by_role("button", name="Start run")
    for _ in range(20):
        await page.keyboard.press("Tab")
        if await start.evaluate("el => el === document.activeElement"):
            break
    else:
        raise AssertionError("Tab never reached Start run")
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/runs/run_"), timeout=15_000)
