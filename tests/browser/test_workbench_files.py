"""A workspace's files in Chromium: edit a file while someone else writes it
(the conflict dialog: Overwrite, Reload), and upload a file with a progress
bar, then find it in the tree and in the history."""

from __future__ import annotations

import asyncio
import re
import secrets

from playwright.async_api import Locator, Page, Route, expect

from tests.browser.gateway_process import GatewayProcess
from tests.browser.workbench import (
    SEEN_MS,
    create_workspace,
    docs_screenshot,
    read_file,
    rest,
    write_file,
)

PATH = "notes.md"
LOADED = (
    "# Release notes\n\n"
    "Written before the page loaded it.\n\n"
    "- Runs start from the workbench.\n"
    "- Approvals wait in the inbox.\n"
)
THEIRS = "# Release notes\n\nWritten by someone else meanwhile.\n"
ADDED = "- Files can be edited in the browser."
MINE = LOADED + ADDED


def file_region(page: Page, path: str = PATH) -> Locator:
    """The editor's region of one file ("File notes.md"): path, version, state, actions."""
    return page.get_by_role("region", name=f"File {path}")


async def open_file(page: Page, workspace_id: str, path: str) -> Locator:
    """The workspace page with ``path`` open in the editor; returns the editor."""
    await page.goto(f"/workspaces/{workspace_id}")
    await page.get_by_role("tree", name="Files").get_by_role("treeitem", name=path).click()
    editor = page.get_by_role("textbox", name="File content")
    await expect(editor).to_be_visible(timeout=SEEN_MS)
    return editor


async def append_line(page: Page, editor: Locator, text: str) -> None:
    """Type ``text`` at the end of the editor's document, as a person would."""
    await editor.click()
    await page.keyboard.press("Control+End")
    await page.keyboard.type(text)
    await expect(editor).to_contain_text(text)


async def edit_then_collide(page: Page, gateway: GatewayProcess, api_key: str) -> tuple[str, int, Locator]:
    """Load a file in the editor, edit it, have another writer save the same
    file through REST, then Save: the conflict dialog opens. Returns the
    workspace, the other writer's version, and the dialog."""
    async with rest(gateway, api_key) as client:
        workspace_id = await create_workspace(client, f"conflict-{secrets.token_hex(3)}")
        loaded_version = await write_file(client, workspace_id, PATH, LOADED, expected_version=0)

    editor = await open_file(page, workspace_id, PATH)
    await expect(editor).to_contain_text("Written before the page loaded it.")
    await expect(file_region(page)).to_contain_text(f"version {loaded_version}")
    await append_line(page, editor, ADDED)
    await expect(file_region(page).get_by_text("Unsaved changes")).to_be_visible()
    await docs_screenshot(page, "file-editor.png")

    async with rest(gateway, api_key) as client:
        theirs_version = await write_file(client, workspace_id, PATH, THEIRS, expected_version=loaded_version)
    assert theirs_version > loaded_version

    await page.get_by_role("button", name="Save", exact=True).click()
    dialog = page.get_by_role("dialog", name="Someone else changed this workspace")
    await expect(dialog).to_be_visible(timeout=SEEN_MS)
    await expect(dialog).to_contain_text(f"based on version {loaded_version}")
    await expect(dialog).to_contain_text(f"now at version {theirs_version}")
    return workspace_id, theirs_version, dialog


async def test_a_conflicting_save_can_overwrite(
    signed_in_page: Page, gateway: GatewayProcess, api_key: str
) -> None:
    page = signed_in_page
    workspace_id, theirs_version, dialog = await edit_then_collide(page, gateway, api_key)

    await dialog.get_by_role("button", name="Overwrite").click()

    await expect(dialog).to_be_hidden(timeout=SEEN_MS)
    await expect(file_region(page).get_by_text("Unsaved changes")).to_have_count(0)
    await expect(page.get_by_role("textbox", name="File content")).to_contain_text(ADDED)
    async with rest(gateway, api_key) as client:
        text, version = await read_file(client, workspace_id, PATH)
    assert (text, version) == (MINE, theirs_version + 1)
    await expect(file_region(page)).to_contain_text(f"version {version}")
    history = page.get_by_role("list", name="History")
    await expect(history.get_by_role("listitem").filter(has_text=f"version {version}")).to_contain_text(
        "edited"
    )


async def test_a_conflicting_save_can_reload_the_current_file(
    signed_in_page: Page, gateway: GatewayProcess, api_key: str
) -> None:
    page = signed_in_page
    workspace_id, theirs_version, dialog = await edit_then_collide(page, gateway, api_key)

    await dialog.get_by_role("button", name="Reload").click()

    await expect(dialog).to_be_hidden(timeout=SEEN_MS)
    editor = page.get_by_role("textbox", name="File content")
    await expect(editor).to_contain_text("Written by someone else meanwhile.")
    await expect(editor).not_to_contain_text(ADDED)
    await expect(file_region(page).get_by_text("Unsaved changes")).to_have_count(0)
    await expect(file_region(page)).to_contain_text(f"version {theirs_version}")
    async with rest(gateway, api_key) as client:
        assert await read_file(client, workspace_id, PATH) == (THEIRS, theirs_version)


async def test_upload_a_file_with_a_progress_bar(
    signed_in_page: Page, gateway: GatewayProcess, api_key: str
) -> None:
    page = signed_in_page
    name = f"uploads-{secrets.token_hex(3)}"
    await page.goto("/workspaces")
    await page.get_by_role("textbox", name="Workspace name").fill(name)
    await page.get_by_role("button", name="Create workspace").click()
    await expect(page).to_have_url(re.compile(r"/workspaces/[^/]+$"), timeout=SEEN_MS)
    await expect(page.get_by_role("heading", level=1, name=name)).to_be_visible()
    workspace_id = page.url.rsplit("/", 1)[1]

    # Hold the upload on its way so the progress bar can be seen, then let it go.
    release = asyncio.Event()

    async def hold(route: Route) -> None:
        await release.wait()
        await route.continue_()

    await page.route(re.compile(r"/files:upload\?"), hold)
    content = b"id,total\n" + b"".join(b"%d,%d\n" % (i, i * 7) for i in range(2000))
    upload = page.get_by_role("form", name="Upload")
    await upload.get_by_label("Upload file").set_input_files(
        {"name": "report.csv", "mimeType": "text/csv", "buffer": content}
    )
    await upload.get_by_role("textbox", name="Target directory").fill("reports")
    await upload.get_by_role("button", name="Upload", exact=True).click()

    progress = upload.get_by_role("progressbar", name="Upload progress")
    await expect(progress).to_be_visible(timeout=SEEN_MS)
    release.set()
    await expect(progress).to_be_hidden(timeout=SEEN_MS)
    await page.unroute(re.compile(r"/files:upload\?"), hold)

    await expect(upload.get_by_role("status")).to_contain_text("Uploaded reports/report.csv")
    tree = page.get_by_role("tree", name="Files")
    await expect(tree.get_by_role("treeitem", name="reports/report.csv")).to_be_visible(timeout=SEEN_MS)
    history = page.get_by_role("list", name="History")
    await expect(history.get_by_role("listitem").filter(has_text="reports/report.csv")).to_contain_text(
        "uploaded"
    )
    async with rest(gateway, api_key) as client:
        text, _ = await read_file(client, workspace_id, "reports/report.csv")
    assert text.encode() == content
