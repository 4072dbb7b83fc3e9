"""Reading Server-Sent Events in tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Frame:
    """One SSE frame: its fields, or a comment (``comment`` set, nothing else)."""

    id: str = ""
    event: str = ""
    data: str = ""
    comment: str = ""
    fields: list[str] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return json.loads(self.data)


def parse_frame(block: str) -> Frame:
    frame = Frame()
    for line in block.split("\n"):
        if line.startswith(":"):
            frame.comment = line[1:].strip()
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        frame.fields.append(name)
        if name == "data":
            frame.data = f"{frame.data}\n{value}" if frame.data else value
        elif name in ("id", "event"):
            setattr(frame, name, value)
    return frame


async def frames(response: httpx.Response) -> AsyncIterator[Frame]:
    """The frames of a streaming response, as they arrive."""
    buffer = ""
    async for text in response.aiter_text():
        buffer += text
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            yield parse_frame(block)
    assert buffer == "", f"stream ended inside a frame: {buffer!r}"


async def events(response: httpx.Response) -> list[Frame]:
    """Every event frame (comments dropped) until the stream ends."""
    return [f async for f in frames(response) if not f.comment]
