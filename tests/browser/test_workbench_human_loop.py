"""The human loop in Chromium: approve and decline a command, answer a
question with an option and with free text, follow the todo list through its
versions, and answer from the inbox while its count follows along."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from ccplane.v1 import common_pb2, events_pb2, runs_pb2, runs_pb2_grpc
from tests.browser.gateway_process import GatewayProcess
from tests.browser.scenarios import OTHER_COLOUR
from tests.browser.workbench import (
    RUN_DONE_MS,
    SEEN_MS,
    answered_by_me,
    create_run_behind_the_page,
    docs_screenshot,
    expect_run_status,
    explain,
    list_files,
    needs_you,
    pending_count,
    request_card,
    rest,
    start_run,
    stored_log,
    timeline,
    timeline_request,
    wait_for_run,
)

COMMAND = "touch approved.txt"


async def waiting_for_approval(page: Page, prompt: str) -> str:
    run_id = await start_run(page, prompt, approval="untrusted")
    await expect_run_status(page, run_id, "waiting for you")
    card = request_card(needs_you(page), "Run a command?")
    await expect(card.get_by_label("Command")).to_contain_text(COMMAND)
    await expect(card).to_contain_text("waiting for you")
    return run_id


async def test_approve_a_command(
    signed_in_page: Page, gateway: GatewayProcess, api_key: str, runs: runs_pb2_grpc.RunServiceStub
) -> None:
    page = signed_in_page
    run_id = await waiting_for_approval(page, "[scenario:approve] touch a file, if allowed")
    await docs_screenshot(page, "run-waiting-for-approval.png")

    await (
        request_card(needs_you(page), "Run a command?")
        .get_by_role("button", name="Approve", exact=True)
        .click()
    )

    await expect_run_status(page, run_id, "succeeded")
    answered = timeline_request(page, "Run a command?")
    await expect(answered).to_contain_text("answered")
    await expect(answered).to_contain_text("Approved")
    await expect(answered).to_contain_text(await answered_by_me(page))
    await expect(answered.get_by_role("button")).to_have_count(0)
    await expect(needs_you(page)).to_contain_text("Needs you (0)")
    await expect(timeline(page).get_by_text("Approval flow done.")).to_be_visible()

    run = await wait_for_run(runs, run_id)
    assert run.status == common_pb2.RUN_STATUS_SUCCEEDED, run
    async with rest(gateway, api_key) as client:
        assert "approved.txt" in await list_files(client, run.workspace_id), "the approved command ran"


async def test_decline_a_command(
    signed_in_page: Page, gateway: GatewayProcess, api_key: str, runs: runs_pb2_grpc.RunServiceStub
) -> None:
    page = signed_in_page
    run_id = await waiting_for_approval(page, "[scenario:approve] try to touch a file")

    await request_card(needs_you(page), "Run a command?").get_by_role("button", name="Decline").click()

    await expect_run_status(page, run_id, "succeeded")
    answered = timeline_request(page, "Run a command?")
    await expect(answered).to_contain_text("Declined")
    await expect(answered).to_contain_text(await answered_by_me(page))
    await expect(timeline(page).get_by_text("Approval flow done.")).to_be_visible()
    # The timeline shows the command as declined, never as done.
    command_row = timeline(page).get_by_role("listitem").filter(has_text="$ ").filter(has_text=COMMAND)
    await expect(command_row).to_have_count(1)
    await expect(command_row).to_contain_text("declined")
    await expect(command_row).not_to_contain_text(re.compile(r"\bdone\b"))

    run = await wait_for_run(runs, run_id)
    events = await stored_log(runs, run_id)
    ran = [
        e
        for e in events
        if e.type == "command.completed"
        and COMMAND in e.command_completed.command
        and e.command_completed.status == events_pb2.COMMAND_STATUS_COMPLETED
    ]
    assert not ran, explain(events)
    async with rest(gateway, api_key) as client:
        files = await list_files(client, run.workspace_id)
    assert "approved.txt" not in files, f"the declined command must not run: {files}"


async def test_answer_a_question_with_an_option(
    signed_in_page: Page, runs: runs_pb2_grpc.RunServiceStub
) -> None:
    page = signed_in_page
    run_id = await start_run(page, "[scenario:ask] pick a colour")
    card = request_card(needs_you(page), "Question")
    await expect(card).to_contain_text("Which colour?", timeout=SEEN_MS)

    await card.get_by_role("radio", name="Blue").check()
    await card.get_by_role("button", name="Submit").click()

    await expect(timeline(page).get_by_text("Blue it is.")).to_be_visible(timeout=RUN_DONE_MS)
    await expect_run_status(page, run_id, "succeeded")
    answered = timeline_request(page, "Question")
    await expect(answered).to_contain_text("answered")
    await expect(answered).to_contain_text("Blue")
    assert (await wait_for_run(runs, run_id)).status == common_pb2.RUN_STATUS_SUCCEEDED


async def test_answer_a_question_with_free_text(
    signed_in_page: Page, runs: runs_pb2_grpc.RunServiceStub
) -> None:
    page = signed_in_page
    run_id = await start_run(page, "[scenario:ask-other] pick a colour of your own")
    card = request_card(needs_you(page), "Question")
    await expect(card).to_contain_text("Which colour?", timeout=SEEN_MS)

    await card.get_by_role("radio", name="Other").check()
    await card.get_by_role("textbox", name="Other answer").fill(OTHER_COLOUR)
    await card.get_by_role("button", name="Submit").click()

    await expect(timeline(page).get_by_text(f"{OTHER_COLOUR} it is.")).to_be_visible(timeout=RUN_DONE_MS)
    await expect_run_status(page, run_id, "succeeded")
    await expect(timeline_request(page, "Question")).to_contain_text(OTHER_COLOUR)
    assert (await wait_for_run(runs, run_id)).status == common_pb2.RUN_STATUS_SUCCEEDED


async def test_todos_go_through_three_versions(signed_in_page: Page) -> None:
    page = signed_in_page
    run_id = await start_run(page, "[scenario:plan] make a plan and follow it")
    await expect(timeline(page).get_by_text("All three steps done.")).to_be_visible(timeout=RUN_DONE_MS)
    await expect_run_status(page, run_id, "succeeded")

    rail = page.get_by_role("complementary")
    await rail.get_by_role("tab", name="Todos").click()
    todos = rail.get_by_role("region", name="Todos")
    await expect(todos.get_by_text("Version 3")).to_be_visible(timeout=SEEN_MS)
    current = todos.get_by_role("list").first
    await expect(current.get_by_role("listitem")).to_have_count(3)
    for step in ("Look around", "Write notes", "Report"):
        await expect(current.get_by_role("listitem").filter(has_text=step)).to_contain_text("done")
    await expect(todos).to_contain_text("3 of 3 done")

    # The earlier versions are listed, folded.
    await todos.get_by_text(re.compile(r"^Versions \(3\)$")).click()
    versions = todos.get_by_role("list", name="Versions")
    await expect(versions.get_by_role("listitem").filter(has_text=re.compile(r"^v\d"))).to_have_count(3)
    for version, done in ((1, 0), (2, 2), (3, 3)):
        await expect(versions.get_by_text(re.compile(rf"^v{version}\b"))).to_contain_text(f"{done} of 3 done")


async def test_the_inbox_lists_a_request_live_and_answers_it(
    signed_in_page: Page, gateway: GatewayProcess, api_key: str, runs: runs_pb2_grpc.RunServiceStub
) -> None:
    page = signed_in_page
    await page.goto("/inbox")
    nav = page.get_by_role("navigation", name="Main")
    async with rest(gateway, api_key) as client:
        before = await pending_count(client)
    await expect(nav.get_by_role("link", name=inbox_link(before))).to_be_visible()

    run = await create_run_behind_the_page(
        runs, "[scenario:approve] ask the inbox", approval_mode=runs_pb2.APPROVAL_MODE_UNTRUSTED
    )

    waiting = page.get_by_role("region", name=re.compile(r"^Waiting for you"))
    card = waiting.get_by_role("article").filter(has_text=run.id)
    await expect(card).to_be_visible(timeout=RUN_DONE_MS)
    await expect(card.get_by_label("Command")).to_contain_text(COMMAND)
    await expect(nav.get_by_role("link", name=inbox_link(before + 1))).to_be_visible()
    await docs_screenshot(page, "inbox.png")

    await card.get_by_role("button", name="Approve", exact=True).click()

    await expect(waiting.get_by_role("article").filter(has_text=run.id)).to_have_count(0, timeout=SEEN_MS)
    settled = (
        page.get_by_role("region", name="Recently settled").get_by_role("article").filter(has_text=run.id)
    )
    await expect(settled).to_contain_text("Approved")
    await expect(nav.get_by_role("link", name=inbox_link(before))).to_be_visible()
    done = await wait_for_run(runs, run.id)
    assert done.status == common_pb2.RUN_STATUS_SUCCEEDED, done


def inbox_link(count: int) -> re.Pattern[str]:
    """The nav's Inbox link by its accessible name: "Inbox", or "Inbox 2 waiting"."""
    return re.compile(r"^Inbox$" if count == 0 else rf"^Inbox {count} waiting$")
