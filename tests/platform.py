"""What the whole-platform suites share: the scripted model's scenarios, a
database of the stack's own, and waiting for its executors.

``tests/e2e/platform`` and ``tests/browser`` each start the whole platform
(control plane, executor-manager, executor processes running the real
``codex`` binary against the scripted model). A run picks a scenario of the
library with a ``[scenario:NAME]`` tag in its prompt (see
``common/scripted_model/scenario.py``); each run plays its scenario from the
start.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

from ccplane.v1 import executor_manager_pb2, executor_manager_pb2_grpc
from common.cli.stack import Stack, StackOptions
from common.settings import Settings
from tests.conftest import create_database, drop_database
from tests.keys import internal_channel

EXECUTORS_READY_S = 60.0

# The scenarios both suites use, by name.
LIBRARY: dict[str, Any] = {
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
    "five": {
        "steps": [
            *[{"output": [{"exec": f"echo step-{i}"}]} for i in range(5)],
            {"output": [{"message": "Five commands done."}]},
        ]
    },
    "long": {
        "steps": [
            {"output": [{"exec": "sleep 30 && echo finished-long"}]},
            {"when_contains": "function_call_output", "output": [{"message": "The long command ended."}]},
        ]
    },
    "slow": {
        "steps": [
            {"output": [{"exec": "sleep 2 && echo one"}]},
            {"output": [{"exec": "sleep 2 && echo two"}]},
            {"output": [{"message": "Slow work done."}]},
        ]
    },
    "approve": {
        "steps": [
            {"output": [{"exec": "touch approved.txt"}]},
            {"when_contains": "function_call_output", "output": [{"message": "Approval flow done."}]},
        ]
    },
    "chat": {"steps": [], "after_last": {"output": [{"message": "[ccplane scripted model] Noted."}]}},
    "read": {
        "steps": [
            {"output": [{"exec": "cat hello.txt"}]},
            {"when_contains": "function_call_output", "output": [{"message": "Read it."}]},
        ]
    },
    "ask": {
        "steps": [
            {
                "output": [
                    {
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
                ]
            },
            {"when_contains": "Blue", "output": [{"message": "Blue it is."}]},
        ]
    },
    "plan": {
        "steps": [
            {
                "output": [
                    {
                        "tool": "update_plan",
                        "arguments": {
                            "explanation": "Three steps.",
                            "plan": [
                                {"step": "Look around", "status": "in_progress"},
                                {"step": "Write notes", "status": "pending"},
                                {"step": "Report", "status": "pending"},
                            ],
                        },
                    }
                ]
            },
            {"output": [{"exec": "echo notes > notes.txt"}]},
            {
                "output": [
                    {
                        "tool": "update_plan",
                        "arguments": {
                            "plan": [
                                {"step": "Look around", "status": "completed"},
                                {"step": "Write notes", "status": "completed"},
                                {"step": "Report", "status": "in_progress"},
                            ]
                        },
                    }
                ]
            },
            {
                "output": [
                    {
                        "tool": "update_plan",
                        "arguments": {
                            "plan": [
                                {"step": "Look around", "status": "completed"},
                                {"step": "Write notes", "status": "completed"},
                                {"step": "Report", "status": "completed"},
                            ]
                        },
                    }
                ]
            },
            {"output": [{"message": "All three steps done."}]},
        ]
    },
}


def scenario_library(name: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A scenario for the stack's scripted model: :data:`LIBRARY` plus ``extra``, by tag."""
    return {
        "name": name,
        "steps": [],
        "after_last": {"output": [{"message": "[ccplane scripted model] Noted.", "stream": True}]},
        "library": {**LIBRARY, **(extra or {})},
    }


@contextlib.contextmanager
def own_database(server_url: str, prefix: str) -> Iterator[str]:
    """A database of the stack's own (executors registered by other suites'
    managers must not receive its runs); dropped afterwards."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    url = create_database(server_url, name)
    try:
        yield url
    finally:
        drop_database(server_url, name)


async def wait_for_ready_executors(stack: Stack, count: int) -> None:
    """Return once ``count`` executors are READY; fails loudly after ``EXECUTORS_READY_S``."""
    assert stack.manager is not None
    async with internal_channel(stack.manager.address) as channel, asyncio.timeout(EXECUTORS_READY_S):
        stub = executor_manager_pb2_grpc.ExecutorManagerServiceStub(channel)
        while True:
            listed = await stub.ListExecutors(executor_manager_pb2.ListExecutorsRequest())
            ready = [e for e in listed.executors if e.state == executor_manager_pb2.EXECUTOR_STATE_READY]
            if len(ready) >= count:
                return
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running_platform(
    database_url: str, data_dir: Path, scenario: Mapping[str, Any], *, serve_gateway: bool = True
) -> AsyncIterator[Stack]:
    """The whole platform with two ready executors playing ``scenario``; stopped on exit.

    ``serve_gateway=False`` leaves the REST gateway out (the browser suite
    runs it as a process of its own, to kill it)."""
    settings = Settings()
    settings.database_url = database_url
    settings.data_dir = data_dir
    stack = Stack(
        settings,
        StackOptions(
            demo=True,
            scenario=scenario,
            min_executors=2,
            max_executors=2,
            slots_per_executor=4,
            heartbeat_interval=1.0,
            heartbeat_timeout=20.0,
            manager_port=0,
            grpc_port=0,
            gateway_port=0,
            serve_gateway=serve_gateway,
        ),
    )
    await stack.start()
    try:
        await wait_for_ready_executors(stack, 2)
        yield stack
    finally:
        await stack.stop()
