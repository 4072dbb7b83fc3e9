"""Scenarios for the scripted model: ordered steps, each answering one request.

A scenario is plain data (a dict, or a JSON file holding one)::

    {
      "name": "demo",
      "model": "ccplane-scripted",
      "steps": [
        {"output": [{"reasoning": "I should look around."},
                    {"exec": "ls -la"}],
         "usage": {"input_tokens": 120, "output_tokens": 12}},
        {"when_contains": "function_call_output",
         "output": [{"message": "Done.", "stream": true}]}
      ],
      "after_last": {"output": [{"message": "[ccplane-scripted] no more steps."}]}
    }

Step fields (all optional):

``output``
    Output items, in order. Each is one of
    ``{"message": TEXT, "stream": bool}`` (assistant message, optionally sent
    as ``response.output_text.delta`` chunks),
    ``{"reasoning": SUMMARY}`` (a reasoning item with a summary),
    ``{"exec": CMD, "workdir": DIR}`` (``exec_command`` function call),
    ``{"tool": NAME, "arguments": {...}}`` (any function call, e.g.
    ``update_plan`` or ``request_user_input``),
    ``{"custom_tool": NAME, "input": TEXT}`` (a freeform tool call, e.g.
    ``apply_patch``), or ``{"raw": {...}}`` (a Responses-API item as is).
    Tool items may carry ``call_id``; one is generated otherwise.
``usage``
    ``input_tokens`` / ``output_tokens`` / ``cached_tokens`` /
    ``reasoning_tokens``; missing numbers are derived from the sizes of the
    request and the reply.
``delay``
    Seconds to wait after ``response.created`` before the items are sent.
``http_status``
    Answer with this HTTP status and an error body instead of a stream.
``stall``
    Seconds (a positive number) during which the stream goes silent part way
    through: ``after_events`` events are sent, then nothing while the HTTP
    connection stays open, until the time is up (the rest of the reply
    follows, and the connection closes after it) or the client goes away.
``cut``
    ``true``: the connection is cut part way through the stream. After
    ``after_events`` events, half of the next event's chunk is written and
    the TCP connection is closed: the chunked body ends without its last
    chunk and without ``response.completed``. With ``stall``, the cut
    follows the stall.
``after_events``
    How many Server-Sent Events (``response.created`` is the first; then
    ``response.output_item.added``, deltas, ``.done``, …) go out before a
    ``stall`` or ``cut``; default 1. The fault comes before
    ``response.completed`` at the latest. Needs ``stall`` or ``cut``.
``before_headers``
    ``true``: the ``stall`` or ``cut`` comes before the status line, once
    the request has been read (a model that never starts its answer, or
    drops the connection unanswered). Not with ``after_events``.
``when_contains``
    The step only answers a request whose body contains this substring. A
    request that does not match it is answered with ``unmatched`` (an
    assistant message saying so, by default) and the step stays next in line.

``after_last`` answers every request once the steps are used up (default: a
message saying the script has ended).

``library``: named scenarios; a conversation whose prompt carries the tag
``[scenario:NAME]`` plays scenario NAME, with a cursor per agent thread.

``cursor``: ``"global"`` (default) plays the steps once across all requests;
``"thread"`` plays them once per agent thread (keyed by the request's
``prompt_cache_key``, the Codex thread id), for many concurrent runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCRIPTED_MODEL_NAME = "ccplane-scripted"
LABEL = "[ccplane scripted model]"


class ScenarioError(ValueError):
    """A scenario is malformed; the message names the offending step/field."""


@dataclass(frozen=True)
class Step:
    output: tuple[Mapping[str, Any], ...] = ()
    usage: Mapping[str, int] = field(default_factory=dict)
    delay: float = 0.0
    http_status: int | None = None
    when_contains: str | None = None
    stall: float | None = None
    cut: bool = False
    after_events: int = 1
    before_headers: bool = False

    def matches(self, body: str) -> bool:
        return self.when_contains is None or self.when_contains in body


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: tuple[Step, ...]
    model: str = SCRIPTED_MODEL_NAME
    after_last: Step = field(
        default_factory=lambda: Step(output=({"message": f"{LABEL} The script has no more steps."},))
    )
    unmatched: Step | None = None
    # "global": one cursor over the steps for every request (a single agent
    # session). "thread": a cursor per agent thread (the request's
    # prompt_cache_key, which Codex sets to the thread id), so concurrent runs
    # each play the whole scenario.
    cursor: str = "global"
    # Named scenarios picked per agent thread by a "[scenario:NAME]" tag in
    # the conversation (the prompt), each with a per-thread cursor. Lets one
    # model server play different scripts for many concurrent runs.
    library: Mapping[str, Scenario] = field(default_factory=dict)

    def pick(self, body: str) -> Scenario | None:
        """The library scenario a request's conversation asks for, if any."""
        if not self.library:
            return None
        for name, scenario in self.library.items():
            if f"[scenario:{name}]" in body:
                return scenario
        return None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        if not isinstance(data, Mapping):
            raise ScenarioError("scenario must be an object")
        steps = data.get("steps", [])
        if not isinstance(steps, list):
            raise ScenarioError("scenario.steps must be a list")
        kwargs: dict[str, Any] = {
            "name": str(data.get("name", "scenario")),
            "steps": tuple(_parse_step(s, f"steps[{i}]") for i, s in enumerate(steps)),
        }
        if "model" in data:
            kwargs["model"] = str(data["model"])
        if "after_last" in data:
            kwargs["after_last"] = _parse_step(data["after_last"], "after_last")
        if "unmatched" in data:
            kwargs["unmatched"] = _parse_step(data["unmatched"], "unmatched")
        if "cursor" in data:
            if data["cursor"] not in ("global", "thread"):
                raise ScenarioError("scenario.cursor must be 'global' or 'thread'")
            kwargs["cursor"] = str(data["cursor"])
        library = data.get("library", {})
        if not isinstance(library, Mapping):
            raise ScenarioError("scenario.library must map names to scenarios")
        kwargs["library"] = {str(name): cls.from_dict({"name": name, **sub}) for name, sub in library.items()}
        return cls(**kwargs)

    @classmethod
    def from_file(cls, path: str | Path) -> Scenario:
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))


_ITEM_KINDS = ("message", "reasoning", "exec", "tool", "custom_tool", "raw")
_STEP_KEYS = {
    "output",
    "usage",
    "delay",
    "http_status",
    "when_contains",
    "stall",
    "cut",
    "after_events",
    "before_headers",
}


def _parse_step(data: Any, where: str) -> Step:
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{where} must be an object")
    unknown = set(data) - _STEP_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {sorted(unknown)}")
    output = data.get("output", [])
    if not isinstance(output, list):
        raise ScenarioError(f"{where}.output must be a list")
    for i, item in enumerate(output):
        kinds = [k for k in _ITEM_KINDS if isinstance(item, Mapping) and k in item]
        if len(kinds) != 1:
            raise ScenarioError(f"{where}.output[{i}] needs exactly one of {_ITEM_KINDS}")
    usage = data.get("usage", {})
    if not isinstance(usage, Mapping) or not all(isinstance(v, int) for v in usage.values()):
        raise ScenarioError(f"{where}.usage must map names to integers")
    when = data.get("when_contains")
    status = data.get("http_status")
    stall, cut, after_events, before_headers = _parse_fault(data, where)
    return Step(
        output=tuple(output),
        usage=dict(usage),
        delay=float(data.get("delay", 0.0)),
        http_status=int(status) if status is not None else None,
        when_contains=str(when) if when is not None else None,
        stall=stall,
        cut=cut,
        after_events=after_events,
        before_headers=before_headers,
    )


def _parse_fault(data: Mapping[str, Any], where: str) -> tuple[float | None, bool, int, bool]:
    """A step's stream fault: ``stall`` seconds, ``cut``, ``after_events``, ``before_headers``."""
    stall = data.get("stall")
    if stall is not None and (
        isinstance(stall, bool) or not isinstance(stall, int | float) or not 0 < stall < float("inf")
    ):
        raise ScenarioError(f"{where}.stall must be a positive number of seconds")
    cut = data.get("cut", False)
    if not isinstance(cut, bool):
        raise ScenarioError(f"{where}.cut must be true or false")
    after_events = data.get("after_events", 1)
    if isinstance(after_events, bool) or not isinstance(after_events, int) or after_events < 0:
        raise ScenarioError(f"{where}.after_events must be a whole number of events, 0 or more")
    before_headers = data.get("before_headers", False)
    if not isinstance(before_headers, bool):
        raise ScenarioError(f"{where}.before_headers must be true or false")
    for name in ("after_events", "before_headers"):
        if name in data and stall is None and not cut:
            raise ScenarioError(f"{where}.{name} needs stall or cut")
    if before_headers and "after_events" in data:
        raise ScenarioError(f"{where}.before_headers and after_events exclude each other")
    if (stall is not None or cut) and data.get("http_status") is not None:
        raise ScenarioError(f"{where}.stall/cut break a stream; http_status answers without one")
    return (float(stall) if stall is not None else None), cut, after_events, before_headers


# Built-in scenarios, by name. `demo` backs `ccplane up --demo`.
BUILTIN: dict[str, dict[str, Any]] = {
    "demo": {
        "name": "demo",
        "steps": [
            {
                "output": [
                    {"reasoning": "Scripted demo: run one harmless shell command."},
                    {"exec": "echo 'Hello from the ccplane scripted model' > ccplane-demo.txt && ls -la"},
                ],
            },
            {
                "output": [
                    {
                        "message": f"{LABEL} This reply comes from ccplane's built-in "
                        "scripted demo model, not from a real LLM. I ran one shell "
                        "command that wrote `ccplane-demo.txt` into the workspace. "
                        "Configure CCPLANE_MODEL_BASE_URL / CCPLANE_MODEL / "
                        "CCPLANE_MODEL_API_KEY to use a real model.",
                        "stream": True,
                    }
                ],
            },
        ],
    },
    "hello": {
        "name": "hello",
        "steps": [{"output": [{"message": f"{LABEL} Hello! I am a scripted model.", "stream": True}]}],
    },
    "echo": {
        # Answers every request with a short message; useful for follow-ups.
        "name": "echo",
        "steps": [],
        "after_last": {"output": [{"message": f"{LABEL} Noted.", "stream": True}]},
    },
}


def builtin(name: str) -> Scenario:
    try:
        return Scenario.from_dict(BUILTIN[name])
    except KeyError:
        raise ScenarioError(f"no built-in scenario {name!r}; known: {sorted(BUILTIN)}") from None


def load(spec: str | Path | Mapping[str, Any] | Scenario) -> Scenario:
    """A scenario from an object, a built-in name or a JSON file path."""
    if isinstance(spec, Scenario):
        return spec
    if isinstance(spec, Mapping):
        return Scenario.from_dict(spec)
    if isinstance(spec, str) and spec in BUILTIN:
        return builtin(spec)
    return Scenario.from_file(spec)
