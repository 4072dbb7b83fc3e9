"""The workbench's runs in Chromium: start a run from the form and watch it
live, interrupt and stop it, reload a deep link, lose the session, and
survive a gateway crash mid-run with a timeline equal to the stored log."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from ccplane.v1 import common_pb2, events_pb2, runs_pb2_grpc
from tests.browser.conftest import sign_in
from tests.browser.gateway_process import GatewayProcess
from tests.browser.workbench import (
    RUN_DONE_MS,
    SEEN_MS,
    TERMINAL,
    docs_screenshot,
    expect_run_status,
    expected_row_seqs,
    explain,
    last_line,
    needs_you,
    output_of,
    reconnecting,
    request_card,
    row_seqs,
    start_run,
    stored_log,
    timeline,
    timeline_request,
    turn_rows,
    wait_for_run,
)


async def test_a_run_started_from_the_form_shows_its_commands_output_live(
    signed_in_page: Page, runs: runs_pb2_grpc.RunServiceStub
) -> None:
    page = signed_in_page
    run_id = await start_run(page, "[scenario:slow] count to two, slowly")

    # The first command's output shows while the run is still at work on the second.
    first = output_of(page, "sleep 2 && echo one")
    await expect(first).to_have_text(last_line("one"), timeout=SEEN_MS)
    running = await wait_for_run(runs, run_id, until=lambda run: True)
    assert running.status == common_pb2.RUN_STATUS_RUNNING, (
        "the output must show while the run is still running, not only at its end"
    )

    await expect(output_of(page, "sleep 2 && echo two")).to_have_text(last_line("two"), timeout=RUN_DONE_MS)
    await expect(timeline(page).get_by_text("Slow work done.")).to_be_visible(timeout=RUN_DONE_MS)
    await expect_run_status(page, run_id, "succeeded")

    # The runs list shows it, newest first, with its status in words.
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Runs").click()
    row = page.get_by_role("row").filter(
        has=page.get_by_role("link", name=re.compile(r"count to two, slowly"))
    )
    await expect(row).to_contain_text("succeeded")
    await docs_screenshot(page, "runs-list.png")
    await row.get_by_role("link", name=re.compile(r"count to two, slowly")).click()
    await expect(page).to_have_url(re.compile(rf"/runs/{run_id}$"))


async def test_interrupt_ends_the_running_turn(
    signed_in_page: Page, runs: runs_pb2_grpc.RunServiceStub
) -> None:
    page = signed_in_page
    run_id = await start_run(page, "[scenario:long] sleep for a while")
    command = timeline(page).get_by_text("sleep 30 && echo finished-long").first
    await expect(command).to_be_visible(timeout=SEEN_MS)

    interrupt = page.get_by_role("button", name="Interrupt")
    await expect(interrupt).to_be_enabled()
    await interrupt.click()

    await expect(turn_rows(page, "interrupted")).to_have_count(1, timeout=RUN_DONE_MS)
    await expect(page.get_by_role("button", name="Interrupt")).to_be_disabled(timeout=RUN_DONE_MS)
    await wait_for_run(runs, run_id)
    events = await stored_log(runs, run_id)
    turns = [e.turn_completed.status for e in events if e.type == "turn.completed"]
    assert turns == [events_pb2.TURN_STATUS_INTERRUPTED], explain(events)
    assert "finished-long" not in "".join(
        e.command_completed.output for e in events if e.type == "command.completed"
    ), explain(events)
    # The page never shows the command as done.
    command_row = timeline(page).get_by_role("listitem").filter(has_text="$ ").filter(has_text="sleep 30")
    await expect(command_row).to_have_count(1)
    await expect(command_row).not_to_contain_text(re.compile(r"\bdone\b"))


async def test_stop_a_run_that_waits_for_approval(
    signed_in_page: Page, runs: runs_pb2_grpc.RunServiceStub
) -> None:
    page = signed_in_page
    run_id = await start_run(page, "[scenario:approve] touch a file, then be stopped", approval="untrusted")
    await expect_run_status(page, run_id, "waiting for you")
    await expect(
        request_card(needs_you(page), "Run a command?").get_by_role("button", name="Approve", exact=True)
    ).to_be_visible()

    await page.get_by_role("button", name="Stop").click()

    await expect_run_status(page, run_id, "canceled")
    # The card says the request was canceled (the human-loop feature words it
    # "withdrawn", with the stop's reason) and offers no answer any more.
    request = timeline_request(page, "Run a command?")
    await expect(request).to_contain_text(
        re.compile(r"\b(canceled|withdrawn)\b", re.IGNORECASE), timeout=SEEN_MS
    )
    await expect(request.get_by_role("button")).to_have_count(0)
    await expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    await expect(page.get_by_role("button", name="Stop")).to_be_disabled()
    run = await wait_for_run(runs, run_id)
    assert run.status == common_pb2.RUN_STATUS_CANCELED, run


async def test_reloading_a_run_page_keeps_the_page_and_its_timeline(
    signed_in_page: Page, runs: runs_pb2_grpc.RunServiceStub
) -> None:
    page = signed_in_page
    run_id = await start_run(page, "[scenario:quick] write hello")
    await expect(timeline(page).get_by_text("Wrote hello.txt.")).to_be_visible(timeout=RUN_DONE_MS)
    await expect_run_status(page, run_id, "succeeded")
    before = await row_seqs(page)

    response = await page.reload()
    assert response is not None and response.status == 200

    await expect(page).to_have_url(re.compile(rf"/runs/{run_id}$"))
    await expect(page.get_by_role("heading", level=1, name=run_id)).to_be_visible()
    await expect(timeline(page).get_by_text("Wrote hello.txt.")).to_be_visible(timeout=SEEN_MS)
    await expect_run_status(page, run_id, "succeeded")
    await expect(output_of(page, "echo hello > hello.txt && cat hello.txt")).to_have_text(last_line("hello"))
    assert await row_seqs(page) == before == expected_row_seqs(await stored_log(runs, run_id))


async def test_a_401_sends_the_person_back_to_sign_in(
    signed_in_page: Page, gateway: GatewayProcess, api_key: str
) -> None:
    page = signed_in_page
    run_id = await start_run(page, "[scenario:quick] a run to come back to")
    await expect_run_status(page, run_id, "succeeded")
    await page.get_by_role("textbox", name="Message").fill("[scenario:chat] are you still there?")

    # Sign out in another tab of the same browser: this tab's session is gone.
    other = await page.context.new_page()
    await other.goto("/inbox")
    await other.get_by_role("button", name="Sign out").click()
    await expect(other).to_have_url(re.compile(r"/sign-in(\?.*)?$"))
    await other.close()

    await page.get_by_role("button", name="Send").click()
    await expect(page).to_have_url(re.compile(r"/sign-in\?next="), timeout=SEEN_MS)
    await expect(page.get_by_role("textbox", name="API key")).to_be_visible()

    # Signing in again brings the person back to the run.
    await sign_in(page, api_key)
    await expect(page).to_have_url(f"{gateway.url}/runs/{run_id}")
    await expect(timeline(page).get_by_text("Wrote hello.txt.")).to_be_visible(timeout=SEEN_MS)


async def test_a_gateway_crash_mid_run_reconnects_and_shows_every_event_once(
    signed_in_page: Page, gateway: GatewayProcess, runs: runs_pb2_grpc.RunServiceStub
) -> None:
    page = signed_in_page
    run_id = await start_run(page, "[scenario:slow] work through a crash")
    await expect(output_of(page, "sleep 2 && echo one")).to_have_text(last_line("one"), timeout=SEEN_MS)
    starts = gateway.starts
    # Set on this document only: a reload or a navigation would lose it.
    await page.evaluate("() => { window.beforeTheCrash = true; }")

    gateway.kill()
    mid_run = await wait_for_run(runs, run_id, until=lambda run: True)
    # The page says so, quietly, and keeps its place and its timeline.
    await expect(reconnecting(page).first).to_be_visible(timeout=SEEN_MS)
    await expect(page.get_by_role("heading", level=1, name=run_id)).to_be_visible()
    await expect(output_of(page, "sleep 2 && echo one")).to_be_visible()
    await gateway.restart()
    assert gateway.starts == starts + 1

    await expect(reconnecting(page)).to_have_count(0, timeout=SEEN_MS)
    await wait_for_run(runs, run_id)
    await expect(timeline(page).get_by_text("Slow work done.", exact=True)).to_have_count(
        1, timeout=RUN_DONE_MS
    )
    await expect_run_status(page, run_id, "succeeded")
    await expect(page.get_by_role("alert")).to_have_count(0)
    assert page.url.endswith(f"/runs/{run_id}")
    assert await page.evaluate("() => window.beforeTheCrash === true"), (
        "the page must reconnect by itself, never reload"
    )

    # The timeline equals the stored log: every event once, in order, nothing missing.
    events = await stored_log(runs, run_id)
    assert mid_run.status not in TERMINAL and mid_run.last_seq < events[-1].seq, (
        f"the kill should land mid-run: {mid_run}"
    )
    assert await row_seqs(page) == expected_row_seqs(events), explain(events)
    for word in ("one", "two"):
        await expect(output_of(page, f"sleep 2 && echo {word}")).to_have_text(last_line(word))
    await expect(turn_rows(page, "completed")).to_have_count(1)
