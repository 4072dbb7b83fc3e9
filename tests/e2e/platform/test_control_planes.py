"""Several control-plane processes over one database, and a control plane
killed (SIGKILL) while its runs are live."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ccplane.v1 import common_pb2, human_loop_pb2, human_loop_pb2_grpc, runs_pb2, runs_pb2_grpc
from common.cli.stack import Stack
from common.credentials import authorized_channel
from common.settings import Settings
from control_plane.app import ControlPlane
from tests.e2e.platform.conftest import follow, of_type


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ControlPlaneProcess:
    """`ccplane control-plane` in a process of its own."""

    def __init__(self, database_url: str, manager_address: str) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._env = {**os.environ, "CCPLANE_DATABASE_URL": database_url, "CCPLANE_LOG_LEVEL": "WARNING"}
        self._manager = manager_address
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "common.cli.main", "control-plane",
            "--grpc-port", str(self.port), "--executor-manager", self._manager,
            env=self._env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        async with grpc.aio.insecure_channel(self.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            async with asyncio.timeout(30):
                while True:
                    try:
                        reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                        if reply.status == health_pb2.HealthCheckResponse.SERVING:
                            return
                    except grpc.aio.AioRpcError:
                        await asyncio.sleep(0.1)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 30)


@pytest.fixture
async def paused_stack_orchestrator(stack: Stack) -> AsyncIterator[None]:
    """Only the control planes a test starts drive runs meanwhile."""
    assert stack.control_plane is not None and stack.control_plane.orchestrator is not None
    await stack.control_plane.orchestrator.stop()
    try:
        yield
    finally:
        await stack.control_plane.orchestrator.start()


async def test_a_subscriber_on_another_control_plane_follows_live(
    stack: Stack, runs: runs_pb2_grpc.RunServiceStub, platform_db_url: str
) -> None:
    other = ControlPlane(Settings(), platform_db_url)
    await other.start(port=0)
    try:
        async with authorized_channel(other.address, stack.admin_key) as channel:
            remote = runs_pb2_grpc.RunServiceStub(channel)
            run = (
                await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:slow] across processes"))
            ).run
            seen = await follow(remote, run.id)
    finally:
        await other.stop()
    assert [e.seq for e in seen] == list(range(1, len(seen) + 1))
    assert seen[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED
    assert seen == await follow(runs, run.id), "both processes serve the same log"


@pytest.mark.usefixtures("paused_stack_orchestrator")
async def test_control_plane_killed_mid_run_and_restarted(stack: Stack, platform_db_url: str) -> None:
    assert stack.manager is not None
    first = ControlPlaneProcess(platform_db_url, stack.manager.address)
    await first.start()
    async with authorized_channel(first.address, stack.admin_key) as channel:
        runs = runs_pb2_grpc.RunServiceStub(channel)
        run = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:slow] survive a crash"))).run
        before = await follow(runs, run.id, until=of_type("command.started"))
    await first.kill()

    second = ControlPlaneProcess(platform_db_url, stack.manager.address)
    await second.start()
    try:
        async with authorized_channel(second.address, stack.admin_key) as channel:
            runs = runs_pb2_grpc.RunServiceStub(channel)
            events = await follow(runs, run.id)
    finally:
        await second.stop()
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), "no gap in the log"
    assert events[: len(before)] == before
    assert events[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED
    assert len([e for e in events if e.type == "command.completed"]) == 2, "every output stored exactly once"
    assert len([e for e in events if e.type == "turn.completed"]) == 1


@pytest.mark.usefixtures("paused_stack_orchestrator")
async def test_pending_request_survives_a_control_plane_restart(stack: Stack, platform_db_url: str) -> None:
    assert stack.manager is not None
    first = ControlPlaneProcess(platform_db_url, stack.manager.address)
    await first.start()
    untrusted = runs_pb2.RunSettings(approval_mode=runs_pb2.APPROVAL_MODE_UNTRUSTED)
    async with authorized_channel(first.address, stack.admin_key) as channel:
        runs = runs_pb2_grpc.RunServiceStub(channel)
        run = (
            await runs.CreateRun(
                runs_pb2.CreateRunRequest(prompt="[scenario:approve] wait across", settings=untrusted)
            )
        ).run
        asked = await follow(runs, run.id, until=of_type("human_loop.requested"))
    await first.kill()

    second = ControlPlaneProcess(platform_db_url, stack.manager.address)
    await second.start()
    try:
        async with authorized_channel(second.address, stack.admin_key) as channel:
            human_loop = human_loop_pb2_grpc.HumanLoopServiceStub(channel)
            reply = await human_loop.Reply(
                human_loop_pb2.ReplyRequest(
                    run_id=run.id,
                    question_id=asked[-1].human_loop_requested.question_id,
                    approval=human_loop_pb2.ApprovalAnswer(decision=human_loop_pb2.APPROVAL_DECISION_ACCEPT),
                )
            )
            assert not reply.already_resolved
            events = await follow(runs_pb2_grpc.RunServiceStub(channel), run.id)
    finally:
        await second.stop()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED
    assert len([e for e in events if e.type == "command.completed"]) == 1, "the approved command ran once"
