"""A loopback HTTP server that plays a scenario as a Responses-API model.

``POST /v1/responses`` is answered with Server-Sent Events
(``response.created``, ``response.output_item.added`` / ``.done``, optional
``response.output_text.delta`` / ``response.reasoning_summary_text.delta``
deltas, ``response.completed`` with ``usage``), one scenario step per request.
Every request is recorded (``server.requests``) and tests can wait for one
(``await server.wait_for_request(contains=...)``) instead of polling.

A step can also break its stream at the wire: go silent with the connection
open (``stall``), or end the TCP connection half way through a chunk of the
body (``cut``); see :mod:`common.scripted_model.scenario`.

Stdlib only: a minimal HTTP/1.1 parser (keep-alive, chunked replies) is all a
Responses-API client needs, and it keeps the demo free of web dependencies.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from common.scripted_model.scenario import LABEL, Scenario, Step, load

log = logging.getLogger("ccplane.scripted_model")

_MAX_BODY = 64 * 1024 * 1024
_STREAM_CHUNK = 12  # characters per streamed text delta


@dataclass
class RecordedRequest:
    """One model request as received (``body`` is the raw text)."""

    method: str
    path: str
    headers: dict[str, str]
    body: str
    step_index: int | None = None  # which scenario step answered it (None: fallback)
    # The client closed the connection before its reply was complete (during a stall, say).
    hung_up: bool = False

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def contains(self, text: str) -> bool:
        return text in self.body


@dataclass
class _State:
    next_step: int = 0
    # Per-thread cursors when the scenario's cursor is "thread".
    thread_steps: dict[str, int] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    other_requests: list[RecordedRequest] = field(default_factory=list)


class ScriptedModelServer:
    """Serve ``scenario`` on ``host:port`` (port 0 picks a free one).

    Use as ``async with ScriptedModelServer("demo") as srv: srv.base_url``.
    """

    def __init__(
        self,
        scenario: Scenario | Mapping[str, Any] | str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.scenario = load(scenario)
        self.host = host
        self.port = port
        self._state = _State()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()
        self._ids = itertools.count(1)

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve_connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info(
            "%s serving scenario %r as model %r at %s (not a real LLM)",
            LABEL,
            self.scenario.name,
            self.scenario.model,
            self.base_url,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> ScriptedModelServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    # -- inspection --------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The ``base_url`` of a model provider (``…/v1``)."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def model(self) -> str:
        return self.scenario.model

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every ``POST /v1/responses`` received, in order."""
        return list(self._state.requests)

    @property
    def steps_used(self) -> int:
        return self._state.next_step

    async def wait_for_request(
        self, contains: str | None = None, *, index: int | None = None, timeout_s: float = 10.0
    ) -> RecordedRequest:
        """The first request (optionally the ``index``-th one, or the first
        whose body contains ``contains``), waiting for it up to ``timeout_s`` seconds."""

        def find() -> RecordedRequest | None:
            reqs = self._state.requests
            if index is not None:
                return reqs[index] if len(reqs) > index else None
            for req in reqs:
                if contains is None or contains in req.body:
                    return req
            return None

        async def wait() -> RecordedRequest:
            async with self._changed:
                while (found := find()) is None:
                    await self._changed.wait()
                return found

        try:
            return await asyncio.wait_for(wait(), timeout_s)
        except TimeoutError:
            raise TimeoutError(
                f"no model request {'#' + str(index) if index is not None else ''}"
                f"{' containing ' + repr(contains) if contains else ''} within {timeout_s}s; "
                f"got {len(self._state.requests)} request(s)"
            ) from None

    async def wait_for_hang_up(self, request: RecordedRequest, *, timeout_s: float = 10.0) -> None:
        """Return once the client has hung up on the reply to ``request``
        (a stalled one, say); TimeoutError after ``timeout_s`` seconds."""

        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: request.hung_up)

        try:
            await asyncio.wait_for(wait(), timeout_s)
        except TimeoutError:
            raise TimeoutError(f"the client did not hang up within {timeout_s}s") from None

    async def _note_hang_up(self, request: RecordedRequest) -> None:
        async with self._changed:
            request.hung_up = True
            self._changed.notify_all()

    # -- HTTP --------------------------------------------------------------

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                keep_alive = request.headers.get("connection", "").lower() != "close"
                if not await self._dispatch(request, reader, writer) or not keep_alive:
                    break
        except _ConnectionCut:
            # Close at once, without the chunked body's last chunk.
            writer.transport.abort()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("%s connection failed", LABEL)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _dispatch(
        self, request: RecordedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must not be reused."""
        path = request.path.split("?", 1)[0].rstrip("/")
        if request.method == "POST" and path.endswith("/responses"):
            step = self._pick_step(request)
            async with self._changed:
                self._state.requests.append(request)
                self._changed.notify_all()
            try:
                return await self._answer(step, request, _Reply(step, reader, writer))
            except ConnectionError:
                await self._note_hang_up(request)
                raise
        self._state.other_requests.append(request)
        if request.method == "GET" and path.endswith("/models"):
            body = {"object": "list", "data": [{"id": self.model, "object": "model"}]}
            await _write_json(writer, 200, body)
            return True
        await _write_json(writer, 404, {"error": {"message": f"{LABEL} no route {request.path}"}})
        return True

    def _thread_key(self, request: RecordedRequest) -> str:
        try:
            body = request.json
        except ValueError:
            return ""
        return str(body.get("prompt_cache_key", "")) if isinstance(body, dict) else ""

    def _pick_step(self, request: RecordedRequest) -> Step:
        scenario = self.scenario
        key: str | None = None
        chosen = scenario.pick(request.body)
        if chosen is not None:
            scenario = chosen
            key = f"{chosen.name}/{self._thread_key(request)}"
        elif scenario.cursor == "thread":
            key = self._thread_key(request)
        steps = scenario.steps
        index = self._state.next_step if key is None else self._state.thread_steps.get(key, 0)
        if index >= len(steps):
            return scenario.after_last
        step = steps[index]
        if not step.matches(request.body):
            log.info(
                "%s request #%d does not contain %r yet; answering with the unmatched reply",
                LABEL,
                len(self._state.requests),
                step.when_contains,
            )
            return scenario.unmatched or Step(
                output=({"message": f"{LABEL} Waiting for a request containing {step.when_contains!r}."},)
            )
        request.step_index = index
        if key is None:
            self._state.next_step += 1
        else:
            self._state.thread_steps[key] = index + 1
        return step

    async def _answer(self, step: Step, request: RecordedRequest, reply: _Reply) -> bool:
        """Play ``step``; False when the connection must not be reused."""
        if step.http_status is not None:
            error = {
                "error": {
                    "message": f"{LABEL} scripted HTTP {step.http_status}",
                    "type": "scripted_error",
                    "code": "scripted_error",
                }
            }
            await _write_json(reply.writer, step.http_status, error)
            return True
        if step.before_headers:
            await reply.fault(b"")
        reply.writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        response_id = f"resp_{next(self._ids)}"
        base = {"id": response_id, "object": "response", "model": self.model}
        await reply.event("response.created", response={**base, "status": "in_progress"})
        if step.delay:
            await asyncio.sleep(step.delay)
        items: list[dict[str, Any]] = []
        for index, spec in enumerate(step.output):
            items.append(await self._emit_item(reply, index, spec))
        usage = _usage(step.usage, request.body, items)
        await reply.event(
            "response.completed",
            response={**base, "status": "completed", "output": items, "usage": usage},
        )
        reply.writer.write(b"0\r\n\r\n")
        await reply.writer.drain()
        # The client may have spoken during a stall; its bytes are gone.
        return step.stall is None

    async def _emit_item(self, reply: _Reply, index: int, spec: Mapping[str, Any]) -> dict[str, Any]:
        n = next(self._ids)
        call_id = str(spec.get("call_id") or f"call_{n}")
        if "message" in spec:
            text = str(spec["message"])
            item: dict[str, Any] = {
                "type": "message",
                "id": f"msg_{n}",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
            if spec.get("stream"):
                await reply.event(
                    "response.output_item.added",
                    output_index=index,
                    item={**item, "status": "in_progress", "content": []},
                )
                for chunk in _chunks(text):
                    await reply.event(
                        "response.output_text.delta",
                        item_id=item["id"],
                        output_index=index,
                        content_index=0,
                        delta=chunk,
                    )
        elif "reasoning" in spec:
            summary = str(spec["reasoning"])
            item = {
                "type": "reasoning",
                "id": f"rs_{n}",
                "summary": [{"type": "summary_text", "text": summary}],
            }
            await reply.event(
                "response.output_item.added",
                output_index=index,
                item={**item, "summary": []},
            )
            await reply.event(
                "response.reasoning_summary_text.delta",
                item_id=item["id"],
                output_index=index,
                summary_index=0,
                delta=summary,
            )
        elif "exec" in spec:
            args = {"cmd": spec["exec"]}
            if "workdir" in spec:
                args["workdir"] = spec["workdir"]
            item = _function_call(n, call_id, "exec_command", args)
        elif "tool" in spec:
            item = _function_call(n, call_id, str(spec["tool"]), spec.get("arguments", {}))
        elif "custom_tool" in spec:
            item = {
                "type": "custom_tool_call",
                "id": f"ctc_{n}",
                "call_id": call_id,
                "name": str(spec["custom_tool"]),
                "input": str(spec.get("input", "")),
                "status": "completed",
            }
        else:
            item = dict(spec["raw"])
        if "message" not in spec or not spec.get("stream"):
            await reply.event("response.output_item.added", output_index=index, item=item)
        await reply.event("response.output_item.done", output_index=index, item=item)
        return item


class _ConnectionCut(Exception):
    """A ``cut`` step broke the stream: the connection is dropped, not closed cleanly."""


class _Reply:
    """One streamed reply: writes its events as chunks and plays the step's
    fault (``stall``, ``cut``) once ``after_events`` events are out."""

    def __init__(self, step: Step, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.step = step
        self.reader = reader
        self.writer = writer
        self.sent = 0
        self._fault_due = (step.stall is not None or step.cut) and not step.before_headers

    async def event(self, kind: str, **data: Any) -> None:
        payload = json.dumps({"type": kind, **data}, separators=(",", ":"))
        body = f"event: {kind}\ndata: {payload}\n\n".encode()
        chunk = b"%x\r\n%s\r\n" % (len(body), body)
        # response.completed never goes out before the fault.
        if self._fault_due and (self.sent >= self.step.after_events or kind == "response.completed"):
            self._fault_due = False
            await self.fault(chunk)
        self.writer.write(chunk)
        await self.writer.drain()
        self.sent += 1

    async def fault(self, next_chunk: bytes) -> None:
        """Stall and/or cut; a cut sends half of ``next_chunk`` first."""
        where = "before the headers" if self.step.before_headers else f"after {self.sent} event(s)"
        if self.step.stall is not None:
            log.info("%s stalling the answer for %gs %s", LABEL, self.step.stall, where)
            if await self._client_left_within(self.step.stall):
                raise ConnectionResetError("the client went away during a stall")
        if self.step.cut:
            log.info("%s cutting the connection %s", LABEL, where)
            self.writer.write(next_chunk[: len(next_chunk) // 2])
            await self.writer.drain()
            raise _ConnectionCut

    async def _client_left_within(self, seconds: float) -> bool:
        """Wait ``seconds`` with the connection open; True if the client hung up first."""
        try:
            async with asyncio.timeout(seconds):
                # A client waiting for its answer sends nothing; whatever it
                # sends anyway is dropped (the connection closes afterwards).
                while await self.reader.read(65536):
                    pass
        except TimeoutError:
            return False
        except ConnectionError:
            pass
        return True


def _function_call(n: int, call_id: str, name: str, args: Any) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{n}",
        "call_id": call_id,
        "name": name,
        "arguments": args if isinstance(args, str) else json.dumps(args),
        "status": "completed",
    }


def _chunks(text: str) -> list[str]:
    return [text[i : i + _STREAM_CHUNK] for i in range(0, len(text), _STREAM_CHUNK)] or [""]


def _usage(spec: Mapping[str, int], body: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    input_tokens = spec.get("input_tokens", max(1, len(body) // 4))
    output_tokens = spec.get("output_tokens", max(1, len(json.dumps(items)) // 4))
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": spec.get("cached_tokens", 0)},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": spec.get("reasoning_tokens", 0)},
        "total_tokens": input_tokens + output_tokens,
    }


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += data[:-2]
            if len(body) > _MAX_BODY:
                raise ConnectionError("request body too large")
        raw = bytes(body)
    else:
        length = int(headers.get("content-length", "0"))
        if length > _MAX_BODY:
            raise ConnectionError("request body too large")
        raw = await reader.readexactly(length)
    return RecordedRequest(method=method, path=path, headers=headers, body=raw.decode("utf-8", "replace"))


async def _write_json(writer: asyncio.StreamWriter, status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    writer.write(
        f"HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\n"
        f"content-length: {len(data)}\r\n\r\n".encode()
        + data
    )
    await writer.drain()
