"""The `ccplane` client commands against the platform, with the local admin key."""

from __future__ import annotations

import asyncio
import os
import sys

from ccplane.v1 import events_pb2, runs_pb2, runs_pb2_grpc
from common.cli.stack import Stack
from tests.e2e.platform.conftest import follow, of_type


async def ccplane(stack: Stack, *args: str, key: str | None = None) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "CCPLANE_ADDRESS": stack.grpc_address,
        "CCPLANE_DATA_DIR": str(stack.settings.resolved_data_dir()),
        "CCPLANE_LOG_LEVEL": "WARNING",
    }
    env.pop("CCPLANE_API_KEY", None)
    if key is not None:
        env["CCPLANE_API_KEY"] = key
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "common.cli.main", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_runs_create_follow_uses_the_local_admin_key(stack: Stack) -> None:
    assert (stack.settings.resolved_data_dir() / "admin.key").read_text().strip() == stack.admin_key
    code, out, err = await ccplane(
        stack, "runs", "create", "--prompt", "[scenario:quick] from the cli", "--follow"
    )
    assert code == 0, err
    assert "running -> succeeded" in out, out


async def test_a_bad_key_is_refused_plainly(stack: Stack) -> None:
    code, out, err = await ccplane(stack, "runs", "list", key="ccp_" + "n" * 43)
    assert code != 0 and out == ""
    assert "UNAUTHENTICATED" in err and "CCPLANE_API_KEY" in err and "Traceback" not in err


async def test_runs_interrupt_ends_the_turn(stack: Stack) -> None:
    async with stack.channel() as channel:
        runs = runs_pb2_grpc.RunServiceStub(channel)
        run = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:long] from the cli"))).run
        await follow(runs, run.id, until=of_type("command.started"))
        code, out, err = await ccplane(stack, "runs", "interrupt", run.id, "--reason", "enough")
        assert code == 0, err
        assert run.id in out
        events = await follow(runs, run.id)
    turns = [e.turn_completed.status for e in events if e.type == "turn.completed"]
    assert turns == [events_pb2.TURN_STATUS_INTERRUPTED]
