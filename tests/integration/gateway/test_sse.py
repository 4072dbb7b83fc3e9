"""Server-streaming RPCs as Server-Sent Events: framing, resuming, keep-alives, disconnects."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import httpx

from common import ids
from control_plane.app import ControlPlane
from gateway import Gateway
from tests.integration.gateway.conftest import CreateRun
from tests.integration.gateway.sse import Frame, events, frames

TIMEOUT = 10.0
ALL_SEQS = [str(seq) for seq in range(1, 9)]


async def _stream(client: httpx.AsyncClient, path: str, **kwargs: Any) -> list[Frame]:
    async with asyncio.timeout(TIMEOUT), client.stream("GET", path, **kwargs) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["cache-control"] == "no-cache"
        return await events(response)


async def test_run_events_are_framed_with_id_event_and_data(
    client: httpx.AsyncClient, finished_run: str
) -> None:
    received = await _stream(client, f"/api/runs/{finished_run}/events")
    assert [f.id for f in received] == ALL_SEQS
    assert [f.fields for f in received] == [["id", "event", "data"]] * len(received)
    for frame in received:
        event = frame.json
        assert event["seq"] == frame.id
        assert event["type"] == frame.event
        assert event["runId"] == finished_run
    assert [f.event for f in received] == [
        "run.status_changed",
        "message.delta",
        "message.delta",
        "todos.updated",
        "message.delta",
        "todos.updated",
        "message.delta",
        "run.status_changed",
    ]
    assert received[-1].json["statusChanged"]["status"] == "RUN_STATUS_CANCELED"


async def test_resume_from_last_event_id_or_after_seq(client: httpx.AsyncClient, finished_run: str) -> None:
    path = f"/api/runs/{finished_run}/events"
    by_header = await _stream(client, path, headers={"Last-Event-ID": "3"})
    by_query = await _stream(client, path, params={"after_seq": "3"})
    by_json_name = await _stream(client, path, params={"afterSeq": "3"})
    assert (
        [f.id for f in by_header] == [f.id for f in by_query] == [f.id for f in by_json_name] == ALL_SEQS[3:]
    )
    # The query parameter wins over the header.
    both = await _stream(client, path, params={"after_seq": "6"}, headers={"Last-Event-ID": "1"})
    assert [f.id for f in both] == ALL_SEQS[6:]


async def test_reconnecting_with_last_event_id_delivers_each_event_once(
    client: httpx.AsyncClient, finished_run: str
) -> None:
    path = f"/api/runs/{finished_run}/events"
    seen: list[str] = []
    async with asyncio.timeout(TIMEOUT), client.stream("GET", path) as response:
        async for frame in frames(response):
            if not frame.comment:
                seen.append(frame.id)
            if len(seen) == 3:
                break  # the client drops the connection mid-stream
    rest = await _stream(client, path, headers={"Last-Event-ID": seen[-1]})
    assert seen + [f.id for f in rest] == ALL_SEQS


async def test_todo_events_use_version_as_id(client: httpx.AsyncClient, finished_run: str) -> None:
    path = f"/api/runs/{finished_run}/todos/events"
    versions = await _stream(client, path)
    assert [(f.id, f.event) for f in versions] == [("1", "todos.updated"), ("2", "todos.updated")]
    assert [item["text"] for item in versions[1].json["items"]] == ["read", "write"]
    assert [f.id for f in await _stream(client, path, headers={"Last-Event-ID": "1"})] == ["2"]
    assert [f.id for f in await _stream(client, path, params={"after_version": "2"})] == []


async def test_stream_errors_before_the_first_event_are_plain_json(client: httpx.AsyncClient) -> None:
    missing = await client.get(f"/api/runs/{ids.RUN}_{'0' * 26}/events")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"
    assert missing.json()["code"] == 5
    bad_cursor = await client.get(f"/api/runs/{ids.RUN}_{'0' * 26}/events", headers={"Last-Event-ID": "x"})
    assert bad_cursor.status_code == 400
    assert bad_cursor.json()["details"][1]["fieldViolations"][0]["field"] == "Last-Event-ID"


async def test_idle_stream_sends_keepalives_and_a_gone_client_cancels_upstream(
    client: httpx.AsyncClient, gateway: Gateway, create_run: CreateRun
) -> None:
    run_id = await create_run()  # queued, and nothing runs it: its stream stays open
    cancelled_before = gateway.streams.cancelled_by_client
    async with asyncio.timeout(TIMEOUT):
        async with client.stream("GET", f"/api/runs/{run_id}/events") as response:
            stream = frames(response)
            first = await anext(stream)
            assert first.id == "1"
            keepalive = await anext(stream)
            assert keepalive.comment == "keep-alive"
            (upstream,) = [c for c in gateway.streams.calls if not c.done()]
        # The response is closed: the gateway must notice and cancel the gRPC call.
        await gateway.streams.wait_until(lambda s: upstream not in s.calls)
        assert gateway.streams.cancelled_by_client == cancelled_before + 1
        assert await upstream.code() == grpc.StatusCode.CANCELLED


async def test_stopping_the_gateway_ends_open_streams(
    control_plane: ControlPlane, create_run: CreateRun, admin_key: str
) -> None:
    run_id = await create_run()  # queued: its stream would stay open for ever
    gateway = Gateway(control_plane.address)
    await gateway.start()
    async with (
        httpx.AsyncClient(
            base_url=gateway.url, timeout=TIMEOUT, headers={"authorization": f"Bearer {admin_key}"}
        ) as http,
        asyncio.timeout(TIMEOUT),
        http.stream("GET", f"/api/runs/{run_id}/events") as response,
    ):
        stream = frames(response)
        assert (await anext(stream)).id == "1"
        stopping = asyncio.create_task(gateway.stop())
        rest = [f async for f in stream]  # ends: the gateway closed the stream
        await stopping
    assert rest == []
    assert gateway.streams.open == 0
