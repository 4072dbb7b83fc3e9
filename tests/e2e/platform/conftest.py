"""The whole platform on loopback: control plane, executor-manager, real
executor processes running the real codex binary against the scripted model.

One stack serves every test of the package (starting executors costs about a
second each). The scripted model plays a library of scenarios; a run picks
one with a ``[scenario:NAME]`` tag in its prompt, and every run plays its
scenario from the start (a cursor per agent thread).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from ccplane.v1 import common_pb2, events_pb2, runs_pb2, runs_pb2_grpc
from common.cli.stack import Stack, StackOptions
from common.settings import Settings
from tests.conftest import create_database, drop_database
from tests.keys import internal_channel

WAIT_S = 60.0

SCENARIOS: dict[str, Any] = {
    "name": "e2e-library",
    "steps": [],
    "after_last": {"output": [{"message": "[ccplane scripted model] Noted.", "stream": True}]},
    "library": {
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
    },
}


@pytest.fixture(scope="package")
def platform_db_url(postgres_server_url: str) -> Iterator[str]:
    """A database of the platform's own: executors registered by other suites'
    managers must not receive this stack's runs."""
    name = f"ccplane_e2e_{secrets.token_hex(6)}"
    url = create_database(postgres_server_url, name)
    try:
        yield url
    finally:
        drop_database(postgres_server_url, name)


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def stack(platform_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    settings = Settings()
    settings.database_url = platform_db_url
    settings.data_dir = tmp_path_factory.mktemp("ccplane-e2e")
    stack = Stack(
        settings,
        StackOptions(
            demo=True,
            scenario=SCENARIOS,
            min_executors=2,
            max_executors=2,
            slots_per_executor=4,
            heartbeat_interval=1.0,
            heartbeat_timeout=20.0,
            manager_port=0,
            grpc_port=0,
            gateway_port=0,
        ),
    )
    await stack.start()
    try:
        await wait_for_ready_executors(stack, 2)
        yield stack
    finally:
        await stack.stop()


async def wait_for_ready_executors(stack: Stack, count: int) -> None:
    from ccplane.v1 import executor_manager_pb2, executor_manager_pb2_grpc

    assert stack.manager is not None
    async with internal_channel(stack.manager.address) as channel:
        stub = executor_manager_pb2_grpc.ExecutorManagerServiceStub(channel)
        async with asyncio.timeout(WAIT_S):
            while True:
                listed = await stub.ListExecutors(executor_manager_pb2.ListExecutorsRequest())
                ready = [e for e in listed.executors if e.state == executor_manager_pb2.EXECUTOR_STATE_READY]
                if len(ready) >= count:
                    return
                await asyncio.sleep(0.1)


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def runs(stack: Stack) -> AsyncIterator[runs_pb2_grpc.RunServiceStub]:
    async with stack.channel() as channel:
        yield runs_pb2_grpc.RunServiceStub(channel)


TERMINAL = {common_pb2.RUN_STATUS_SUCCEEDED, common_pb2.RUN_STATUS_FAILED, common_pb2.RUN_STATUS_CANCELED}


async def follow(
    runs: runs_pb2_grpc.RunServiceStub,
    run_id: str,
    after_seq: int = 0,
    until: Callable[[events_pb2.RunEvent], bool] | None = None,
) -> list[events_pb2.RunEvent]:
    """The run's events from after_seq until the stream ends (or ``until`` matches)."""
    out: list[events_pb2.RunEvent] = []
    async with asyncio.timeout(WAIT_S):
        call = runs.StreamRunEvents(runs_pb2.StreamRunEventsRequest(run_id=run_id, after_seq=after_seq))
        async for event in call:
            out.append(event)
            if until is not None and until(event):
                call.cancel()
                break
    return out


def status_event(status: int) -> Callable[[events_pb2.RunEvent], bool]:
    return lambda e: e.type == "run.status_changed" and e.status_changed.status == status


def of_type(type_: str) -> Callable[[events_pb2.RunEvent], bool]:
    return lambda e: e.type == type_


def workspace_dir(stack: Stack, run: runs_pb2.Run) -> Path:
    return stack.settings.resolved_data_dir() / "executors" / run.executor_id / "workspaces" / run.id
