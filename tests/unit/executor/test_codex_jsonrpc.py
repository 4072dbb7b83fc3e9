"""JSON-lines JSON-RPC framing against a fake peer on a socket pair."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from executor.providers.codex.jsonrpc import (
    AlreadyAnsweredError,
    ConnectionClosedError,
    JsonRpcConnection,
    Notification,
    RemoteError,
    RequestTimeoutError,
    ServerRequest,
)


@dataclass
class Peer:
    """The other end: reads what we sent, writes what Codex would."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def receive(self) -> dict[str, Any]:
        line = await asyncio.wait_for(self.reader.readline(), 5)
        message: dict[str, Any] = json.loads(line)
        return message

    async def send(self, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        self.writer.write(text.encode() + b"\n")
        await self.writer.drain()


@pytest_asyncio.fixture
async def pair() -> AsyncIterator[tuple[JsonRpcConnection, Peer]]:
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours)
    peer_reader, peer_writer = await asyncio.open_connection(sock=theirs)
    connection = JsonRpcConnection(reader, writer, default_timeout=2.0)
    connection.start()
    try:
        yield connection, Peer(peer_reader, peer_writer)
    finally:
        await connection.close()
        writer.close()
        peer_writer.close()


async def next_incoming(connection: JsonRpcConnection) -> Notification | ServerRequest:
    async def first() -> Notification | ServerRequest:
        async for item in connection.incoming():
            return item
        raise AssertionError("connection closed")

    return await asyncio.wait_for(first(), 5)


async def test_requests_match_responses_out_of_order(pair: tuple[JsonRpcConnection, Peer]) -> None:
    connection, peer = pair
    first = asyncio.create_task(connection.request("a", {"x": 1}))
    second = asyncio.create_task(connection.request("b"))
    sent_a, sent_b = await peer.receive(), await peer.receive()
    assert sent_a == {"id": sent_a["id"], "method": "a", "params": {"x": 1}}
    assert "jsonrpc" not in sent_a and "params" not in sent_b
    await peer.send({"id": sent_b["id"], "result": "B"})
    await peer.send({"id": sent_a["id"], "result": {"ok": True}})
    assert await first == {"ok": True}
    assert await second == "B"


async def test_error_response_and_timeout(pair: tuple[JsonRpcConnection, Peer]) -> None:
    connection, peer = pair
    failing = asyncio.create_task(connection.request("turn/steer"))
    sent = await peer.receive()
    await peer.send({"id": sent["id"], "error": {"code": -32600, "message": "no active turn"}})
    with pytest.raises(RemoteError) as raised:
        await failing
    assert (raised.value.code, raised.value.remote_message) == (-32600, "no active turn")

    with pytest.raises(RequestTimeoutError):
        await connection.request("slow", timeout_s=0.05)
    late = await peer.receive()
    await peer.send({"id": late["id"], "result": 1})  # ignored, not an error
    pong = asyncio.create_task(connection.request("ping"))
    ping = await peer.receive()
    await peer.send({"id": ping["id"], "result": "pong"})
    assert await pong == "pong"


async def test_notifications_and_server_requests_arrive_in_order(
    pair: tuple[JsonRpcConnection, Peer],
) -> None:
    connection, peer = pair
    await peer.send("this is not json")
    await peer.send({"method": "turn/started", "params": {"turn": {"id": "t1"}}})
    await peer.send({"method": "item/commandExecution/requestApproval", "id": 0, "params": {"itemId": "c"}})
    await peer.send({"method": "warning"})
    note = await next_incoming(connection)
    assert note == Notification("turn/started", {"turn": {"id": "t1"}})
    request = await next_incoming(connection)
    assert isinstance(request, ServerRequest)
    assert (request.id, request.method, request.params) == (
        0,
        "item/commandExecution/requestApproval",
        {"itemId": "c"},
    )
    assert await next_incoming(connection) == Notification("warning", {})


async def test_server_request_is_answered_exactly_once(pair: tuple[JsonRpcConnection, Peer]) -> None:
    connection, peer = pair
    await peer.send({"method": "item/tool/requestUserInput", "id": "q-7", "params": {}})
    request = await next_incoming(connection)
    assert isinstance(request, ServerRequest)

    # Held open: our own requests still flow while it waits.
    pending = asyncio.create_task(connection.request("turn/interrupt", {"turnId": "t"}))
    sent = await peer.receive()
    assert sent["method"] == "turn/interrupt"
    await peer.send({"id": sent["id"], "result": {}})
    assert await pending == {}

    results = await asyncio.gather(
        request.respond({"answers": {}}), request.respond({"answers": {}}), return_exceptions=True
    )
    assert results.count(None) == 1
    assert isinstance(results[1], AlreadyAnsweredError)
    with pytest.raises(AlreadyAnsweredError):
        await request.respond_error(-1, "again")
    assert await peer.receive() == {"id": "q-7", "result": {"answers": {}}}
    # Nothing else was written.
    await connection.notify("marker")
    assert await peer.receive() == {"method": "marker"}


async def test_peer_exit_fails_pending_requests_and_ends_incoming(
    pair: tuple[JsonRpcConnection, Peer],
) -> None:
    connection, peer = pair
    await peer.send({"method": "item/fileChange/requestApproval", "id": 3, "params": {}})
    request = await next_incoming(connection)
    assert isinstance(request, ServerRequest)
    pending = asyncio.create_task(connection.request("turn/start"))
    await peer.receive()
    peer.writer.close()
    with pytest.raises(ConnectionClosedError):
        await pending
    await asyncio.wait_for(connection.wait_closed(), 5)
    assert [item async for item in connection.incoming()] == []
    with pytest.raises(ConnectionClosedError):
        await request.respond({"decision": "accept"})
    with pytest.raises(ConnectionClosedError):
        await connection.request("anything")
