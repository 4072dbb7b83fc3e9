"""The routes the workbench added, through REST: interrupting a run, and the live human-loop feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx

from common.db.engine import Database
from control_plane.auth import DEFAULT_TENANT, Caller
from tests.conftest import RunFactory
from tests.integration.gateway.sse import Frame, frames
from tests.integration.gateway.test_session import reason
from tests.integration.human_loop.conftest import TIMEOUT, approval, ask, reply


async def test_interrupt_needs_a_live_run(client: httpx.AsyncClient, make_run: RunFactory) -> None:
    queued = await make_run("queued", tenant_id=DEFAULT_TENANT)
    refused = await client.post(f"/api/runs/{queued}:interrupt", json={"reason": "enough"})
    assert refused.status_code == 400 and reason(refused) == "RUN_NOT_LIVE"
    missing = await client.post("/api/runs/run_01J00000000000000000000000:interrupt", json={})
    assert missing.status_code == 404
    malformed = await client.post("/api/runs/nope:interrupt", json={})
    assert malformed.status_code == 400
    (bad,) = [d for d in malformed.json()["details"] if d["@type"].endswith("BadRequest")]
    assert bad["fieldViolations"][0]["field"] == "run_id"


async def test_interrupt_of_a_running_run_is_accepted(
    client: httpx.AsyncClient, make_run: RunFactory
) -> None:
    running = await make_run("running", tenant_id=DEFAULT_TENANT)
    accepted = await client.post(f"/api/runs/{running}:interrupt", json={"reason": "enough"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["run"]["id"] == running
    assert accepted.json()["run"]["status"] == "RUN_STATUS_RUNNING", "the run is not ended"


ANSWERER = Caller(tenant_id=DEFAULT_TENANT, key_id="key_test")


async def _next_frame(stream: AsyncIterator[Frame]) -> Frame:
    async with asyncio.timeout(TIMEOUT):
        async for frame in stream:
            if not frame.comment:
                return frame
    raise AssertionError("the feed ended")


async def test_human_loop_feed_streams_and_resumes(
    client: httpx.AsyncClient, database: Database, make_run: RunFactory
) -> None:
    run_id = await make_run("running", tenant_id=DEFAULT_TENANT)
    async with client.stream("GET", "/api/human-loop/events") as head:
        assert head.status_code == 200
        assert head.headers["content-type"].startswith("text/event-stream")
        question_id = await ask(database, run_id)
        seen = frames(head)
        while True:  # the replay of earlier tests' requests comes first
            frame = await _next_frame(seen)
            if frame.json["request"]["questionId"] == question_id:
                break
    assert frame.event == "human_loop.request"
    assert frame.id == frame.json["seq"]
    assert frame.json["request"]["status"] == "HUMAN_LOOP_STATUS_PENDING"
    assert frame.json["request"]["runId"] == run_id

    await reply(database, approval(run_id, question_id), caller=ANSWERER)
    async with client.stream("GET", "/api/human-loop/events", headers={"last-event-id": frame.id}) as resumed:
        after = await _next_frame(frames(resumed))
    assert int(after.id) > int(frame.id)
    assert after.json["request"]["questionId"] == question_id
    assert after.json["request"]["status"] == "HUMAN_LOOP_STATUS_RESOLVED"


async def test_human_loop_feed_pending_only_through_rest(client: httpx.AsyncClient) -> None:
    async with client.stream("GET", "/api/human-loop/events?pendingOnly=true") as fresh:
        assert fresh.status_code == 200
    bad = await client.get("/api/human-loop/events?pendingOnly=maybe")
    assert bad.status_code == 400


async def test_list_run_events_pages_through_the_log(
    client: httpx.AsyncClient, finished_run: str, anonymous: httpx.AsyncClient
) -> None:
    whole = await client.get(f"/api/runs/{finished_run}/events:list")
    assert whole.status_code == 200, whole.text
    body = whole.json()
    seqs = [int(e["seq"]) for e in body["events"]]
    assert seqs == list(range(1, 9)), "every event, in order"
    assert body["lastSeq"] == "8" and body["status"] == "RUN_STATUS_CANCELED"
    assert "nextPageToken" not in body, "the page reached the end of the log"
    assert body["events"][1]["messageDelta"]["delta"] == "a"

    first = (await client.get(f"/api/runs/{finished_run}/events:list", params={"pageSize": 3})).json()
    assert [int(e["seq"]) for e in first["events"]] == [1, 2, 3]
    token = first["nextPageToken"]
    second = (
        await client.get(f"/api/runs/{finished_run}/events:list", params={"pageSize": 3, "pageToken": token})
    ).json()
    assert [int(e["seq"]) for e in second["events"]] == [4, 5, 6]
    tail = (await client.get(f"/api/runs/{finished_run}/events:list", params={"afterSeq": 6})).json()
    assert [int(e["seq"]) for e in tail["events"]] == [7, 8]

    bad_token = await client.get(f"/api/runs/{finished_run}/events:list", params={"pageToken": "nope"})
    assert bad_token.status_code == 400
    negative = await client.get(f"/api/runs/{finished_run}/events:list", params={"afterSeq": -1})
    assert negative.status_code == 400
    other_run = await client.get(
        "/api/runs/run_01J00000000000000000000000/events:list", params={"pageToken": token}
    )
    assert other_run.status_code in (400, 404)
    assert (await anonymous.get(f"/api/runs/{finished_run}/events:list")).status_code == 401
