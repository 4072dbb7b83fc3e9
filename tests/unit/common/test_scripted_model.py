"""The scripted Responses-API model, spoken to over real HTTP on loopback.

(It lives in ``common/scripted_model``; its tests sit here next to the
provider that is its main client.)
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from common.scripted_model import BUILTIN, LABEL, Scenario, ScenarioError, ScriptedModelServer, builtin


class Client:
    """A keep-alive HTTP/1.1 client, just enough for the tests."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, server: ScriptedModelServer) -> Client:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        return cls(reader, writer)

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        data = json.dumps(body).encode()
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\n\r\n".encode()
            + data
        )
        await self.writer.drain()
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode()
        status = int(head.split(" ", 2)[1])
        headers = dict(
            (k.strip().lower(), v.strip())
            for k, v in (line.split(":", 1) for line in head.split("\r\n")[1:] if line)
        )
        if headers.get("transfer-encoding") == "chunked":
            payload = b""
            while True:
                size = int(await self.reader.readuntil(b"\r\n"), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                payload += chunk[:-2]
        else:
            payload = await self.reader.readexactly(int(headers["content-length"]))
        return status, headers, payload

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def sse(payload: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in payload.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        data = json.loads(lines["data"])
        assert data["type"] == lines["event"]
        events.append((lines["event"], data))
    return events


SCENARIO = {
    "name": "unit",
    "steps": [
        {
            "output": [
                {"reasoning": "thinking"},
                {"exec": "ls", "call_id": "call_ls"},
                {"custom_tool": "apply_patch", "input": "*** Begin Patch\n*** End Patch\n"},
                {"tool": "update_plan", "arguments": {"plan": []}},
            ],
            "usage": {"input_tokens": 7, "output_tokens": 3, "cached_tokens": 2},
        },
        {"when_contains": "call_ls", "output": [{"message": "a streamed answer", "stream": True}]},
        {"http_status": 429},
    ],
    "after_last": {"output": [{"message": "the end"}]},
}


@pytest.fixture
async def server() -> AsyncIterator[ScriptedModelServer]:
    async with ScriptedModelServer(SCENARIO) as srv:
        yield srv


async def test_steps_answer_requests_in_order(server: ScriptedModelServer) -> None:
    client = await Client.connect(server)
    try:
        status, headers, payload = await client.post("/v1/responses", {"input": "hello"})
        assert status == 200 and headers["content-type"] == "text/event-stream"
        events = sse(payload)
        assert events[0][0] == "response.created"
        assert events[0][1]["response"]["model"] == "ccplane-scripted"
        done = [data["item"] for kind, data in events if kind == "response.output_item.done"]
        assert [item["type"] for item in done] == [
            "reasoning",
            "function_call",
            "custom_tool_call",
            "function_call",
        ]
        assert done[0]["summary"] == [{"type": "summary_text", "text": "thinking"}]
        assert (done[1]["name"], json.loads(done[1]["arguments"]), done[1]["call_id"]) == (
            "exec_command",
            {"cmd": "ls"},
            "call_ls",
        )
        assert done[2]["name"] == "apply_patch" and done[2]["input"].startswith("*** Begin Patch")
        completed = events[-1][1]["response"]
        assert events[-1][0] == "response.completed"
        assert completed["usage"]["input_tokens"] == 7
        assert completed["usage"]["input_tokens_details"]["cached_tokens"] == 2
        assert completed["usage"]["total_tokens"] == 10

        # Step 2 waits for a request that carries the tool output.
        status, _, payload = await client.post("/v1/responses", {"input": "unrelated"})
        unmatched = sse(payload)
        text = next(d["item"] for k, d in unmatched if k == "response.output_item.done")["content"][0]["text"]
        assert LABEL in text and "call_ls" in text
        assert server.steps_used == 1

        status, _, payload = await client.post("/v1/responses", {"input": [{"call_id": "call_ls"}]})
        streamed = sse(payload)
        deltas = "".join(d["delta"] for k, d in streamed if k == "response.output_text.delta")
        assert deltas == "a streamed answer"

        status, _, payload = await client.post("/v1/responses", {"input": "x"})
        assert status == 429 and "scripted" in json.loads(payload)["error"]["message"]

        status, _, payload = await client.post("/v1/responses", {"input": "x"})
        assert "the end" in payload.decode()
    finally:
        await client.close()

    assert [r.step_index for r in server.requests] == [0, None, 1, 2, None]
    assert server.requests[0].json == {"input": "hello"}
    assert (await server.wait_for_request(contains="call_ls")).step_index == 1
    assert (await server.wait_for_request(index=3)).step_index == 2


async def test_wait_for_request_waits_then_times_out(server: ScriptedModelServer) -> None:
    waiter = asyncio.create_task(server.wait_for_request(contains="needle", timeout_s=5))
    client = await Client.connect(server)
    await client.post("/v1/responses", {"input": "hay needle hay"})
    await client.close()
    assert (await waiter).contains("needle")
    with pytest.raises(TimeoutError, match="containing 'missing'"):
        await server.wait_for_request(contains="missing", timeout_s=0.05)


async def test_other_routes(server: ScriptedModelServer) -> None:
    client = await Client.connect(server)
    try:
        status, _, payload = await client.post("/v1/unknown", {})
        assert status == 404 and LABEL in payload.decode()
    finally:
        await client.close()
    assert server.requests == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"steps": [{"output": [{"message": "a", "exec": "b"}]}]}, r"steps\[0\]\.output\[0\]"),
        ({"steps": [{"outputs": []}]}, r"steps\[0\]: unknown field"),
        ({"steps": [{"usage": {"input_tokens": "many"}}]}, r"steps\[0\]\.usage"),
        ({"steps": {}}, "steps must be a list"),
        ({"steps": [{"stall": 0}]}, r"steps\[0\]\.stall must be a positive number"),
        ({"steps": [{"stall": "long"}]}, r"steps\[0\]\.stall must be a positive number"),
        ({"steps": [{"stall": True}]}, r"steps\[0\]\.stall must be a positive number"),
        ({"steps": [{}, {"cut": "yes"}]}, r"steps\[1\]\.cut must be true or false"),
        ({"steps": [{"cut": True, "after_events": -1}]}, r"steps\[0\]\.after_events must be a whole"),
        ({"steps": [{"cut": True, "after_events": 1.5}]}, r"steps\[0\]\.after_events must be a whole"),
        ({"steps": [{"after_events": 2}]}, r"steps\[0\]\.after_events needs stall or cut"),
        ({"steps": [{"before_headers": True}]}, r"steps\[0\]\.before_headers needs stall or cut"),
        ({"steps": [{"cut": True, "before_headers": 1}]}, r"steps\[0\]\.before_headers must be true"),
        (
            {"steps": [{"cut": True, "before_headers": True, "after_events": 0}]},
            r"steps\[0\]\.before_headers and after_events",
        ),
        ({"steps": [{"stall": 1, "http_status": 500}]}, r"steps\[0\]\.stall/cut .* http_status"),
        ({"steps": [], "after_last": {"cut": None}}, r"after_last\.cut must be true or false"),
    ],
)
def test_malformed_scenarios_are_rejected(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        Scenario.from_dict(data)


def test_builtin_scenarios_load() -> None:
    for name in BUILTIN:
        assert Scenario.from_dict(BUILTIN[name]).model == "ccplane-scripted"
    with pytest.raises(ScenarioError, match="known"):
        builtin("no-such-scenario")


async def test_command_line_entry_point() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "common.scripted_model",
        "--scenario",
        "hello",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        assert line.startswith("base_url=http://127.0.0.1:") and "model=ccplane-scripted" in line
        port = int(line.split(":")[2].split("/")[0])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = Client(reader, writer)
        _, _, payload = await client.post("/v1/responses", {"input": "hi"})
        await client.close()
        deltas = [d["delta"] for kind, d in sse(payload) if kind == "response.output_text.delta"]
        assert "I am a scripted model" in "".join(deltas)
    finally:
        proc.terminate()
        await proc.wait()


async def test_thread_cursor_plays_the_scenario_once_per_thread() -> None:
    scenario = {
        "name": "per-thread",
        "cursor": "thread",
        "steps": [{"output": [{"message": "first"}]}, {"output": [{"message": "second"}]}],
    }
    async with ScriptedModelServer(scenario) as server:
        client = await Client.connect(server)
        try:
            replies = []
            for thread in ("t-1", "t-2", "t-1", "t-2"):
                status, _, payload = await client.post(
                    "/v1/responses", {"prompt_cache_key": thread, "input": []}
                )
                assert status == 200
                replies.append("first" if b"first" in payload else "second" if b"second" in payload else "?")
        finally:
            await client.close()
    assert replies == ["first", "first", "second", "second"]
    assert [r.step_index for r in server.requests] == [0, 0, 1, 1]


def test_cursor_must_be_known() -> None:
    with pytest.raises(ScenarioError, match="cursor"):
        Scenario.from_dict({"name": "x", "cursor": "random", "steps": []})


async def test_library_scenarios_are_picked_by_tag_per_thread() -> None:
    scenario = {
        "name": "library",
        "steps": [],
        "after_last": {"output": [{"message": "untagged"}]},
        "library": {
            "alpha": {"steps": [{"output": [{"message": "alpha-1"}]}, {"output": [{"message": "alpha-2"}]}]},
            "beta": {"steps": [{"output": [{"message": "beta-1"}]}]},
        },
    }

    def said(payload: bytes) -> str:
        for word in ("alpha-1", "alpha-2", "beta-1", "untagged"):
            if word.encode() in payload:
                return word
        return "?"

    async with ScriptedModelServer(scenario) as server:
        client = await Client.connect(server)
        try:
            heard = []
            for thread, prompt in [
                ("a", "[scenario:alpha] go"),
                ("b", "[scenario:beta] go"),
                ("a", "[scenario:alpha] go"),
                ("c", "no tag"),
                ("d", "[scenario:alpha] go"),
            ]:
                body = {"prompt_cache_key": thread, "input": [{"role": "user", "content": prompt}]}
                _, _, payload = await client.post("/v1/responses", body)
                heard.append(said(payload))
        finally:
            await client.close()
    assert heard == ["alpha-1", "beta-1", "alpha-2", "untagged", "alpha-1"]


# -- stream faults, at the wire ------------------------------------------------

STREAMED = "a streamed answer that is long enough for several deltas"


class RawReply:
    """One reply read off the socket by hand, chunk by chunk, so a stall and
    a truncated chunked body can be seen as they are."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader

    async def head(self) -> str:
        return (await self.reader.readuntil(b"\r\n\r\n")).decode()

    async def chunk(self) -> bytes:
        """The next chunk's data (b"" for the last chunk); IncompleteReadError
        when the connection ends inside a chunk or between chunks."""
        size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
        data = await self.reader.readexactly(size + 2)
        assert data.endswith(b"\r\n")
        return data[:-2]

    async def events(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        for _ in range(count):
            out += sse(await self.chunk())
        return out


async def post_raw(
    server: ScriptedModelServer, body: dict[str, Any]
) -> tuple[RawReply, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    data = json.dumps(body).encode()
    writer.write(
        b"POST /v1/responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(data), data)
    )
    await writer.drain()
    return RawReply(reader), writer


async def assert_silent(reader: asyncio.StreamReader, seconds: float) -> None:
    """Nothing arrives for ``seconds`` and the connection stays open."""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(seconds):
            data = await reader.read(1)
            raise AssertionError(f"the stalled stream sent {data!r}")


async def test_a_stall_goes_silent_mid_stream_then_resumes() -> None:
    step = {"output": [{"message": STREAMED, "stream": True}], "stall": 0.6, "after_events": 3}
    async with ScriptedModelServer({"name": "stall", "steps": [step]}) as server:
        reply, writer = await post_raw(server, {"input": "hi"})
        try:
            assert " 200 " in await reply.head()
            kinds = [kind for kind, _ in await reply.events(3)]
            assert kinds == ["response.created", "response.output_item.added", "response.output_text.delta"]
            started = asyncio.get_running_loop().time()
            await assert_silent(reply.reader, 0.3)
            # The stall ends by itself; the rest of the answer follows.
            rest = []
            while chunk := await reply.chunk():
                rest += sse(chunk)
            assert asyncio.get_running_loop().time() - started >= 0.5
            assert rest[-1][0] == "response.completed"
            text = "".join(d["delta"] for k, d in rest if k == "response.output_text.delta")
            assert STREAMED.endswith(text) and text != STREAMED
            assert await reply.reader.read() == b"", "the server closes a connection that stalled"
        finally:
            writer.close()
    assert not server.requests[0].hung_up


async def test_a_stall_lasts_until_the_client_hangs_up() -> None:
    step = {"output": [{"message": STREAMED, "stream": True}], "stall": 3600, "after_events": 1}
    async with ScriptedModelServer({"name": "stall", "steps": [step]}) as server:
        reply, writer = await post_raw(server, {"input": "hi"})
        await reply.head()
        assert [kind for kind, _ in await reply.events(1)] == ["response.created"]
        await assert_silent(reply.reader, 0.3)
        writer.close()
        await writer.wait_closed()
        (request,) = server.requests
        await server.wait_for_hang_up(request, timeout_s=5.0)
        assert request.hung_up
        # The server is not held up by it.
        client = await Client.connect(server)
        status, _, payload = await client.post("/v1/responses", {"input": "again"})
        await client.close()
        assert status == 200 and b"response.completed" in payload


async def test_a_stall_before_the_headers_sends_nothing_at_all() -> None:
    step = {"output": [{"message": "late"}], "stall": 3600, "before_headers": True}
    async with ScriptedModelServer({"name": "stall", "steps": [step]}) as server:
        reply, writer = await post_raw(server, {"input": "hi"})
        await server.wait_for_request(index=0)
        await assert_silent(reply.reader, 0.3)
        writer.close()
        await server.wait_for_hang_up(server.requests[0], timeout_s=5.0)


async def test_a_cut_truncates_the_chunked_body_mid_chunk() -> None:
    step = {"output": [{"message": STREAMED, "stream": True}], "cut": True, "after_events": 4}
    async with ScriptedModelServer({"name": "cut", "steps": [step]}) as server:
        reply, writer = await post_raw(server, {"input": "hi"})
        try:
            assert "transfer-encoding: chunked" in await reply.head()
            events = await reply.events(4)
            assert [k for k, _ in events][:3] == [
                "response.created",
                "response.output_item.added",
                "response.output_text.delta",
            ]
            # The fifth chunk announces its size but the connection ends half way through it.
            size = int((await reply.reader.readuntil(b"\r\n")).strip(), 16)
            with pytest.raises(asyncio.IncompleteReadError) as cut:
                await reply.reader.readexactly(size + 2)
            assert 0 < len(cut.value.partial) < size
            assert b"response.completed" not in cut.value.partial
            assert reply.reader.at_eof()
        finally:
            writer.close()


async def test_a_cut_before_the_headers_answers_nothing() -> None:
    step = {"output": [{"message": "never"}], "cut": True, "before_headers": True}
    async with ScriptedModelServer(
        {"name": "cut", "steps": [step, {"output": [{"message": "next"}]}]}
    ) as server:
        reply, writer = await post_raw(server, {"input": "hi"})
        assert await reply.reader.read() == b""
        writer.close()
        # The next request, on a new connection, gets the next step.
        client = await Client.connect(server)
        _, _, payload = await client.post("/v1/responses", {"input": "again"})
        await client.close()
        assert b"next" in payload


async def test_an_http_client_sees_the_cut_as_an_error() -> None:
    """What Codex's HTTP stack sees: a body that ends before its last chunk."""
    step = {"output": [{"message": STREAMED, "stream": True}], "cut": True, "after_events": 3}
    async with ScriptedModelServer({"name": "cut", "steps": [step]}) as server:
        async with httpx.AsyncClient(timeout=10.0) as client:
            received = b""
            with pytest.raises(httpx.RemoteProtocolError):
                async with client.stream(
                    "POST", f"{server.base_url}/responses", json={"input": "hi"}
                ) as resp:
                    assert resp.status_code == 200
                    async for data in resp.aiter_raw():
                        received += data
        assert b"response.output_text.delta" in received
        assert b"response.completed" not in received


async def test_a_stall_trips_an_http_clients_read_timeout() -> None:
    step = {"output": [{"message": STREAMED, "stream": True}], "stall": 3600, "after_events": 2}
    async with ScriptedModelServer({"name": "stall", "steps": [step]}) as server:
        timeout = httpx.Timeout(5.0, read=0.5)
        async with httpx.AsyncClient(timeout=timeout) as client:
            lines: list[str] = []
            with pytest.raises(httpx.ReadTimeout):
                async with client.stream(
                    "POST", f"{server.base_url}/responses", json={"input": "hi"}
                ) as resp:
                    async for line in resp.aiter_lines():
                        lines.append(line)
        assert [line for line in lines if line.startswith("event:")] == [
            "event: response.created",
            "event: response.output_item.added",
        ]
        await server.wait_for_hang_up(server.requests[0], timeout_s=5.0)
