"""Helpers of the workbench tests: starting runs from the form, reading the
timeline as the page shows it, the stored log to compare it with, the REST
API as a second writer, and the docs' screenshots.

Elements are found by role and accessible name only, as assistive technology
finds them; ``data-seq`` (the seq of the event that created a timeline row)
is the one attribute read, to compare the page with the stored log.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from playwright.async_api import Locator, Page, ViewportSize, expect

from ccplane.v1 import common_pb2, events_pb2, runs_pb2, runs_pb2_grpc
from tests.browser.gateway_process import REPO, GatewayProcess
from tests.browser.png import shrink_png

# A run of the scripted model ends in a few seconds; 30 s is generous and bounded.
RUN_DONE_MS = 30_000
RUN_DONE_S = RUN_DONE_MS / 1000
# The page showing something the server already has (a stream frame, a refetch).
SEEN_MS = 15_000

TERMINAL = {common_pb2.RUN_STATUS_SUCCEEDED, common_pb2.RUN_STATUS_FAILED, common_pb2.RUN_STATUS_CANCELED}
RUN_PATH = re.compile(r"/runs/([^/?#]+)$")

SCREENSHOTS = REPO / "docs" / "screenshots"
SCREENSHOT_VIEWPORT: ViewportSize = {"width": 1280, "height": 800}


# -- starting runs -----------------------------------------------------------


async def start_run(
    page: Page, prompt: str, *, approval: str | None = None, sandbox: str | None = None
) -> str:
    """Start a run from the form on ``/`` (Prompt, settings by their labels,
    Start run); return its id once the page shows the run."""
    await page.goto("/")
    await page.get_by_role("textbox", name="Prompt").fill(prompt)
    if approval is not None:
        await page.get_by_label("Approval").select_option(label=approval)
    if sandbox is not None:
        await page.get_by_label("Sandbox").select_option(label=sandbox)
    await page.get_by_role("button", name="Start run").click()
    await expect(page).to_have_url(RUN_PATH, timeout=SEEN_MS)
    match = RUN_PATH.search(page.url)
    assert match is not None, page.url
    run_id = match.group(1)
    await expect(page.get_by_role("heading", level=1, name=run_id)).to_be_visible()
    return run_id


async def create_run_behind_the_page(
    runs: runs_pb2_grpc.RunServiceStub, prompt: str, **settings: Any
) -> runs_pb2.Run:
    """A run started over gRPC, as another client would."""
    reply = await runs.CreateRun(
        runs_pb2.CreateRunRequest(prompt=prompt, settings=runs_pb2.RunSettings(**settings))
    )
    run: runs_pb2.Run = reply.run
    return run


# -- the run page ------------------------------------------------------------


def timeline(page: Page) -> Locator:
    return page.get_by_role("list", name="Timeline")


def output_of(page: Page, command: str) -> Locator:
    """A command's output in the timeline, by its label "Output of <command>"
    (Codex runs the command through a shell: ``/bin/bash -lc '<command>'``)."""
    return timeline(page).get_by_label(re.compile(r"^Output of .*" + re.escape(command)))


def last_line(text: str) -> re.Pattern[str]:
    """Output whose last line is ``text`` (a login shell may print a notice first), exactly once."""
    return re.compile(
        rf"^(?![\s\S]*\b{re.escape(text)}\b[\s\S]*\n{re.escape(text)}\s*$)(?:[\s\S]*\n)?{re.escape(text)}\s*$"
    )


def turn_rows(page: Page, state: str) -> Locator:
    """The timeline's turn rows in this state ("Turn · completed", "Turn · interrupted")."""
    return timeline(page).get_by_role("listitem").filter(has_text=re.compile(rf"\bTurn\W+{state}"))


def run_header(page: Page, run_id: str) -> Locator:
    """The run page's header: its heading (the run id), status and actions."""
    return (
        page.get_by_role("main")
        .locator("header")
        .filter(has=page.get_by_role("heading", level=1, name=run_id))
    )


async def expect_run_status(page: Page, run_id: str, word: str, within_ms: float = RUN_DONE_MS) -> None:
    """The header shows the run's status as this word ("succeeded", "waiting for you", …)."""
    await expect(run_header(page, run_id).get_by_text(word, exact=True)).to_be_visible(timeout=within_ms)


def reconnecting(page: Page) -> Locator:
    return page.get_by_role("status").filter(has_text="Reconnecting…")


def needs_you(page: Page) -> Locator:
    """The rail's "Needs you (N)" section of a run page."""
    return page.get_by_role("complementary").get_by_role("region", name=re.compile(r"^Needs you"))


def request_card(scope: Page | Locator, title: str) -> Locator:
    """A human-loop request's card ("Run a command?", "Question"): an article named by its title."""
    return scope.get_by_role("article", name=title)


def timeline_request(page: Page, title: str) -> Locator:
    """The timeline's row of a human-loop request ("Run a command?", "Question"):
    the card while it waits, what became of it once settled."""
    return timeline(page).get_by_role("listitem").filter(has_text=title)


async def my_key_id(page: Page) -> str:
    """The API key id of the page's session (answers show who gave them)."""
    reply = await page.request.get("/api/session")
    assert reply.ok, await reply.text()
    return str((await reply.json())["session"]["keyId"])


async def answered_by_me(page: Page) -> re.Pattern[str]:
    """ "by you", or "by <my key id>": who answered, in the card's words."""
    return re.compile(rf"\bby (you|{re.escape(await my_key_id(page))})\b")


async def rows(page: Page) -> list[dict[str, int]]:
    """Every row of the timeline as ``{"pos", "seq", "size"}``, in order.

    The timeline is virtualised: only rows near the viewport are in the DOM.
    Scroll its region ("Run events") from the top to the bottom and gather
    the rows by their position in the set (``aria-posinset``)."""
    region = page.get_by_role("region", name="Run events")
    items = timeline(page).get_by_role("listitem")
    seen: dict[int, dict[str, int]] = {}
    size = -1
    await region.evaluate("el => { el.scrollTop = 0; }")
    for _ in range(500):
        await next_frames(page)  # the virtualiser renders the rows of the new scroll position
        found = await items.evaluate_all(
            """els => els.map(el => ({
                pos: Number(el.getAttribute('aria-posinset')),
                seq: Number(el.dataset.seq),
                size: Number(el.getAttribute('aria-setsize')),
            }))"""
        )
        for row in found:
            if row["pos"] in seen and seen[row["pos"]]["seq"] != row["seq"]:
                raise AssertionError(f"row {row['pos']} changed while reading: {seen[row['pos']]} → {row}")
            seen[row["pos"]] = row
            size = row["size"]
        at_bottom = await region.evaluate(
            "el => { const end = el.scrollTop + el.clientHeight >= el.scrollHeight - 1;"
            " if (!end) el.scrollTop += Math.max(100, el.clientHeight / 2); return end; }"
        )
        if at_bottom:
            break
    assert size == len(seen), f"read {len(seen)} of the timeline's {size} rows: {sorted(seen)}"
    return [seen[pos] for pos in sorted(seen)]


async def next_frames(page: Page) -> None:
    """Return after the page has painted two more frames."""
    await page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


async def row_seqs(page: Page) -> list[int]:
    return [row["seq"] for row in await rows(page)]


# -- the stored log ----------------------------------------------------------


async def stored_log(runs: runs_pb2_grpc.RunServiceStub, run_id: str) -> list[events_pb2.RunEvent]:
    """The run's whole log (gRPC StreamRunEvents from 0 until it ends: the run has finished)."""
    out: list[events_pb2.RunEvent] = []
    async with asyncio.timeout(RUN_DONE_S):
        call = runs.StreamRunEvents(runs_pb2.StreamRunEventsRequest(run_id=run_id, after_seq=0))
        async for event in call:
            out.append(event)
    return out


async def wait_for_run(
    runs: runs_pb2_grpc.RunServiceStub,
    run_id: str,
    until: Callable[[runs_pb2.Run], bool] = lambda run: run.status in TERMINAL,
    within_s: float = RUN_DONE_S,
) -> runs_pb2.Run:
    """Poll GetRun until ``until`` holds (by default: the run has finished)."""
    async with asyncio.timeout(within_s):
        while True:
            run: runs_pb2.Run = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=run_id))).run
            if until(run):
                return run
            await asyncio.sleep(0.1)


def item_key(event: events_pb2.RunEvent) -> str | None:
    """The timeline item an event belongs to, as the portal's run-log reducer
    (``portal/src/lib/runLog.ts``) folds events: deltas into their message,
    output into its command, a request's settlement into its card. None for
    events the timeline does not show (``thread.started``, ``provider.raw``)."""
    seq, turn = event.seq, event.turn_id
    match event.type:
        case "run.status_changed" | "workspace.synced" | "warning" | "error":
            return f"{event.type}:{seq}"
        case "turn.started":
            return f"turn:{event.turn_started.turn_id or turn or seq}"
        case "turn.completed":
            return f"turn:{event.turn_completed.turn_id or turn or seq}"
        case "message.user":
            return f"user:{event.user_message.item_id or seq}"
        case "message.delta":
            return f"message:{event.message_delta.item_id or seq}"
        case "message.completed":
            return f"message:{event.message_completed.item_id or seq}"
        case "reasoning.summary":
            return f"reasoning:{event.reasoning_summary.item_id or seq}"
        case "command.started":
            return f"command:{event.command_started.item_id or seq}"
        case "command.output":
            return f"command:{event.command_output.item_id or seq}"
        case "command.completed":
            return f"command:{event.command_completed.item_id or seq}"
        case "file_change.completed":
            return f"file_change:{event.file_change_completed.item_id or seq}"
        case "turn.diff":
            return f"turn_diff:{event.turn_diff.turn_id or turn or seq}"
        case "todos.updated":
            return f"todos:{event.todos_updated.version or seq}"
        case "usage.updated":
            return f"usage:{turn or 'run'}"
        case "human_loop.requested":
            return f"human_loop:{event.human_loop_requested.question_id or seq}"
        case "human_loop.resolved":
            return f"human_loop:{event.human_loop_resolved.question_id}"
        case "human_loop.expired":
            return f"human_loop:{event.human_loop_expired.question_id}"
        case "human_loop.canceled":
            return f"human_loop:{event.human_loop_canceled.question_id}"
        case _:
            return None


def expected_row_seqs(events: list[events_pb2.RunEvent]) -> list[int]:
    """The data-seq of every row the timeline must show for this log: one row
    per item, at the seq of the event that created it, in log order."""
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), f"the stored log is not 1..N: {seqs}"
    first: dict[str, int] = {}
    for event in events:
        key = item_key(event)
        if key is not None and key not in first:
            first[key] = event.seq
    return sorted(first.values())


def explain(events: list[events_pb2.RunEvent]) -> str:
    return ", ".join(f"{e.seq}:{e.type}" for e in events)


# -- REST, as another client -------------------------------------------------


@asynccontextmanager
async def rest(gateway: GatewayProcess, key: str) -> AsyncIterator[httpx.AsyncClient]:
    """httpx against the gateway with ``authorization: Bearer <key>``."""
    async with httpx.AsyncClient(
        base_url=gateway.url, headers={"authorization": f"Bearer {key}"}, timeout=10.0
    ) as client:
        yield client


def ok(reply: httpx.Response) -> Any:
    assert reply.is_success, (
        f"{reply.request.method} {reply.request.url}: HTTP {reply.status_code} {reply.text}"
    )
    return reply.json()


async def create_workspace(client: httpx.AsyncClient, name: str) -> str:
    return str(ok(await client.post("/api/workspaces", json={"name": name}))["workspace"]["id"])


async def write_file(
    client: httpx.AsyncClient, workspace_id: str, path: str, text: str, expected_version: int
) -> int:
    body = {
        "path": path,
        "content": base64.b64encode(text.encode()).decode(),
        "expectedVersion": str(expected_version),
    }
    return int(ok(await client.put(f"/api/workspaces/{workspace_id}/file", json=body))["version"])


async def read_file(client: httpx.AsyncClient, workspace_id: str, path: str) -> tuple[str, int]:
    data = ok(await client.get(f"/api/workspaces/{workspace_id}/file", params={"path": path}))
    return base64.b64decode(data.get("content", "")).decode(), int(data.get("version", 0))


async def list_files(client: httpx.AsyncClient, workspace_id: str) -> list[str]:
    data = ok(await client.get(f"/api/workspaces/{workspace_id}/files"))
    return [entry["path"] for entry in data.get("entries", [])]


async def pending_count(client: httpx.AsyncClient) -> int:
    return len(ok(await client.get("/api/human-loop/pending")).get("requests", []))


# -- screenshots for the docs ------------------------------------------------


def screenshots_wanted() -> bool:
    return os.environ.get("CCPLANE_SCREENSHOTS") == "1"


async def docs_screenshot(page: Page, name: str) -> None:
    """``docs/screenshots/<name>`` at 1280x800, only with ``CCPLANE_SCREENSHOTS=1``."""
    if not screenshots_wanted():
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # A settled page: no stream still connecting, nothing still loading.
    busy = page.get_by_role("status").filter(has_text=re.compile(r"Connecting…|Reconnecting…|Loading"))
    await expect(busy).to_have_count(0, timeout=SEEN_MS)
    size = page.viewport_size
    if size != SCREENSHOT_VIEWPORT:
        await page.set_viewport_size(SCREENSHOT_VIEWPORT)
        await next_frames(page)
    png = await page.screenshot(full_page=False, animations="disabled", caret="hide")
    (SCREENSHOTS / name).write_bytes(shrink_png(png))
    if size is not None and size != SCREENSHOT_VIEWPORT:
        await page.set_viewport_size(size)
