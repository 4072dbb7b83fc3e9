"""SIGTERM to ``ccplane up`` with live runs, then a restart.

Shutdown goes in phases: stop accepting (gateway, gRPC, scheduling), drain
(live runs get ``CCPLANE_SHUTDOWN_GRACE`` to finish, while the control
plane still records them), then stop. A run whose turn ends within the
grace succeeds; one still waiting for a person fails with
``EXECUTOR_SHUTDOWN`` and its question is canceled. After a restart no run
is left live with nobody driving it, new runs work, and a follow-up message
continues the failed run's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from sqlalchemy import select

from ccplane.v1 import common_pb2, runs_pb2, runs_pb2_grpc
from common.credentials import authorized_channel
from common.db import models
from common.db.engine import Database
from tests.platform import own_database, scenario_library
from tests.reliability.conftest import QUESTION, all_events, assert_gap_free, free_port, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

GRACE_S = 8.0
# Draining takes the grace; stopping the rest takes a few seconds more.
EXIT_BOUND_S = GRACE_S + 20
FINAL = {common_pb2.RUN_STATUS_SUCCEEDED, common_pb2.RUN_STATUS_FAILED, common_pb2.RUN_STATUS_CANCELED}
LIVE = ("starting", "running", "waiting_human", "lost")
LIBRARY = {
    "wait": {
        "steps": [
            {"output": [QUESTION]},
        ]
    },
    "busy": {
        "steps": [
            {"output": [{"exec": "sleep 3 && echo done-busy"}]},
            {"when_contains": "done-busy", "output": [{"message": "Busy work finished."}]},
        ]
    },
}


@dataclass
class Up:
    """``ccplane up`` as a process of its own."""

    data_dir: Path
    database_url: str
    scenario: Path
    grpc_port: int
    process: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    async def start(self) -> None:
        env = {
            **os.environ,
            "CCPLANE_DATABASE_URL": self.database_url,
            "CCPLANE_SHUTDOWN_GRACE": str(GRACE_S),
            "CCPLANE_EXECUTOR_MANAGER_PORT": str(free_port()),
            "CCPLANE_LOG_FORMAT": "text",
        }
        log = (self.data_dir / "up.log").open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "common.cli.main",
                "up",
                "--demo",
                "--scenario",
                str(self.scenario),
                "--data-dir",
                str(self.data_dir),
                "--grpc-port",
                str(self.grpc_port),
                "--gateway-port",
                str(free_port()),
                "--executors",
                "1",
                "--max-executors",
                "1",
                env=env,
                stdout=log,
                stderr=log,
            )
        finally:
            log.close()
        await self._wait_serving()

    async def _wait_serving(self) -> None:
        async with asyncio.timeout(90):
            while True:
                key = self.data_dir / "admin.key"
                if key.exists():
                    with contextlib.suppress(grpc.aio.AioRpcError):
                        async with self.channel() as channel:
                            await runs_pb2_grpc.RunServiceStub(channel).ListRuns(
                                runs_pb2.ListRunsRequest(), timeout=2
                            )
                            return
                await asyncio.sleep(0.3)

    def channel(self) -> grpc.aio.Channel:
        return authorized_channel(self.address, (self.data_dir / "admin.key").read_text().strip())

    async def terminate(self) -> float:
        """SIGTERM; how long it took to exit."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.process.wait(), EXIT_BOUND_S)
        return time.monotonic() - started

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


@pytest.fixture(scope="module")
def shutdown_db_url(postgres_server_url: str) -> Iterator[str]:
    with own_database(postgres_server_url, "ccplane_shutdown") as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def up(shutdown_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Up]:
    data_dir = tmp_path_factory.mktemp("ccplane-shutdown")
    scenario = data_dir / "scenario.json"
    scenario.write_text(json.dumps(scenario_library("shutdown", LIBRARY)))
    process = Up(data_dir, shutdown_db_url, scenario, free_port())
    try:
        yield process
    finally:
        await process.kill()


async def runs_in(database_url: str) -> dict[str, models.AgentRun]:
    db = Database(database_url, pool_size=1, application_name="ccplane-shutdown-tests")
    try:
        async with db.session() as session:
            return {r.id: r for r in (await session.scalars(select(models.AgentRun))).all()}
    finally:
        await db.close()


async def question_statuses(database_url: str, run_id: str) -> list[str]:
    db = Database(database_url, pool_size=1, application_name="ccplane-shutdown-tests")
    try:
        async with db.session() as session:
            rows = await session.scalars(
                select(models.HumanLoopRequest.status).where(models.HumanLoopRequest.run_id == run_id)
            )
            return list(rows.all())
    finally:
        await db.close()


async def test_sigterm_drains_live_runs_and_a_restart_leaves_none_undriven(
    up: Up, shutdown_db_url: str, prove: Callable[..., None]
) -> None:
    await up.start()
    async with up.channel() as channel:
        runs = runs_pb2_grpc.RunServiceStub(channel)
        waiting = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:wait] hold on"))).run.id
        await wait_for_status(runs, waiting, {common_pb2.RUN_STATUS_WAITING_HUMAN}, 60)
        busy = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:busy] work"))).run.id
        async with asyncio.timeout(60):
            async for event in runs.StreamRunEvents(runs_pb2.StreamRunEventsRequest(run_id=busy)):
                if event.type == "command.started":
                    break

    took = await up.terminate()
    assert up.process is not None and up.process.returncode == 0, "a clean exit"
    assert took < EXIT_BOUND_S
    stored = await runs_in(shutdown_db_url)
    assert stored[busy].status == "succeeded", "its turn ended within the grace, so it finished"
    assert (stored[waiting].status, stored[waiting].error_reason) == ("failed", "EXECUTOR_SHUTDOWN")
    assert took >= GRACE_S - 1, "the waiting run had the grace to finish"
    assert await question_statuses(shutdown_db_url, waiting) == ["canceled"]
    assert not [r.id for r in stored.values() if r.status in LIVE], "nothing left live"

    await up.start()
    assert not [r.id for r in (await runs_in(shutdown_db_url)).values() if r.status in LIVE]
    async with up.channel() as channel:
        runs = runs_pb2_grpc.RunServiceStub(channel)
        fresh = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:chat] again"))).run.id
        assert (await wait_for_status(runs, fresh, FINAL, 60)).status == common_pb2.RUN_STATUS_SUCCEEDED
        # (The restarted scripted model would replay "wait" from its start: the
        # tag makes the follow-up play "chat", which the library lists first.)
        await runs.SendMessage(runs_pb2.SendMessageRequest(run_id=waiting, text="[scenario:chat] carry on"))
        resumed = await wait_for_status(runs, waiting, FINAL, 60)
        assert resumed.status == common_pb2.RUN_STATUS_SUCCEEDED, resumed.error
        for run_id in (waiting, busy, fresh):
            assert_gap_free(await all_events(runs, run_id))
    await up.terminate()
    prove(
        fault="SIGTERM to ccplane up with live runs",
        injected=f"SIGTERM; CCPLANE_SHUTDOWN_GRACE={GRACE_S:g} s",
        outcome="a finishing run succeeded; one waiting for a person failed EXECUTOR_SHUTDOWN; "
        "after restart none was live and a follow-up resumed it",
        bound_s=EXIT_BOUND_S,
        measured_s=round(took, 2),
    )
