"""The scripted model's scenario library for the browser tests.

A run picks one with a ``[scenario:NAME]`` tag in its prompt (see
``common/scripted_model/scenario.py``); each run plays its scenario from the
start. The names and behaviour of the e2e library's scenarios are kept, so a
browser test reads like the e2e test of the same flow.
"""

from __future__ import annotations

from typing import Any

# The free-text answer the "ask-other" scenario waits for: a colour that is
# not one of the question's options, so nothing else in the conversation
# contains it.
OTHER_COLOUR = "Turquoise"

PATCH = "*** Begin Patch\n*** Add File: notes.md\n+hello from a patch\n*** End Patch\n"

_COLOUR_QUESTION: dict[str, Any] = {
    "tool": "request_user_input",
    "arguments": {
        "questions": [
            {
                "id": "colour",
                "header": "Colour",
                "question": "Which colour?",
                "options": [
                    {"label": "Blue", "description": "Calm"},
                    {"label": "Red", "description": "Bold"},
                ],
            }
        ]
    },
}


def _plan(explanation: str | None, *statuses: str) -> dict[str, Any]:
    steps = ["Look around", "Write notes", "Report"]
    arguments: dict[str, Any] = {
        "plan": [{"step": step, "status": status} for step, status in zip(steps, statuses, strict=True)]
    }
    if explanation is not None:
        arguments["explanation"] = explanation
    return {"output": [{"tool": "update_plan", "arguments": arguments}]}


SCENARIOS: dict[str, Any] = {
    "name": "browser-library",
    "steps": [],
    "after_last": {"output": [{"message": "[ccplane scripted model] Noted.", "stream": True}]},
    "library": {
        # One command, then a message: the shortest run with a tool call.
        "quick": {
            "steps": [
                {
                    "output": [{"exec": "echo hello > hello.txt && cat hello.txt"}],
                    "usage": {"input_tokens": 100, "output_tokens": 10},
                },
                {
                    "when_contains": "function_call_output",
                    "output": [{"message": "Wrote hello.txt."}],
                    "usage": {"input_tokens": 150, "output_tokens": 5},
                },
            ]
        },
        # A command that needs approval (run it with approval mode untrusted).
        "approve": {
            "steps": [
                {"output": [{"exec": "touch approved.txt"}]},
                {"when_contains": "function_call_output", "output": [{"message": "Approval flow done."}]},
            ]
        },
        # A question with options: answering "Blue" ends the turn.
        "ask": {
            "steps": [
                {"output": [_COLOUR_QUESTION]},
                {"when_contains": "Blue", "output": [{"message": "Blue it is."}]},
            ]
        },
        # The same question answered with free text instead of an option
        # (Codex marks every question ``isOther``: allow_other is true).
        "ask-other": {
            "steps": [
                {"output": [_COLOUR_QUESTION]},
                {"when_contains": OTHER_COLOUR, "output": [{"message": f"{OTHER_COLOUR} it is."}]},
            ]
        },
        # Three versions of the todo list, a command between the first two.
        "plan": {
            "steps": [
                _plan("Three steps.", "in_progress", "pending", "pending"),
                {"output": [{"exec": "echo notes > notes.txt"}]},
                _plan(None, "completed", "completed", "in_progress"),
                _plan(None, "completed", "completed", "completed"),
                {"output": [{"message": "All three steps done."}]},
            ]
        },
        # A file change through apply_patch (a freeform tool call), adding
        # notes.md. Under approval mode untrusted Codex asks to approve it
        # first; with approval mode never, run it with sandbox
        # danger_full_access: in the workspace-write sandbox the patch failed
        # here ("Failed to write file", executor directories under /tmp).
        "patch": {
            "steps": [
                {"output": [{"custom_tool": "apply_patch", "input": PATCH, "call_id": "call_patch"}]},
                {"when_contains": "call_patch", "output": [{"message": "Patched notes.md."}]},
            ]
        },
        # A command that runs for 30 s: for stop, interrupt, and kill tests.
        "long": {
            "steps": [
                {"output": [{"exec": "sleep 30 && echo finished-long"}]},
                {"when_contains": "function_call_output", "output": [{"message": "The long command ended."}]},
            ]
        },
        # Two 2-second commands: a run that is visibly in progress for a while.
        "slow": {
            "steps": [
                {"output": [{"exec": "sleep 2 && echo one"}]},
                {"output": [{"exec": "sleep 2 && echo two"}]},
                {"output": [{"message": "Slow work done."}]},
            ]
        },
        # Answers every turn with a streamed message: for follow-ups.
        "chat": {
            "steps": [],
            "after_last": {"output": [{"message": "[ccplane scripted model] Noted.", "stream": True}]},
        },
    },
}
