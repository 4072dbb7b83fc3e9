"""The scripted model's scenarios for the browser tests: the shared library
(``tests/platform.py``), so a browser test reads like the e2e test of the
same flow, plus a few flows only the workbench needs."""

from __future__ import annotations

from typing import Any

from tests.platform import LIBRARY, scenario_library

# The free-text answer the "ask-other" scenario waits for: a colour that is
# not one of the question's options, so nothing else in the conversation
# contains it.
OTHER_COLOUR = "Turquoise"

PATCH = "*** Begin Patch\n*** Add File: notes.md\n+hello from a patch\n*** End Patch\n"

# The question of the shared "ask" scenario.
_COLOUR_QUESTION: dict[str, Any] = LIBRARY["ask"]["steps"][0]["output"][0]


# The shared library (tests/platform.py), plus what only the browser suite plays.
SCENARIOS = scenario_library(
    "browser-library",
    {
        # The colour question answered with free text instead of an option
        # (Codex marks every question ``isOther``: allow_other is true).
        "ask-other": {
            "steps": [
                {"output": [_COLOUR_QUESTION]},
                {"when_contains": OTHER_COLOUR, "output": [{"message": f"{OTHER_COLOUR} it is."}]},
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
        # Answers every turn with a streamed message: for follow-ups.
        "chat": {
            "steps": [],
            "after_last": {"output": [{"message": "[ccplane scripted model] Noted.", "stream": True}]},
        },
    },
)
