"""The executor-manager crashes (SIGKILL) and comes back.

Here the manager and two executors are processes of their own, as in a
deployment where executors register themselves (the ``local`` backend ties
its executors to the manager's life on purpose, so they would go with it).
While the manager is down, a live run goes on to the end (its session
stream is direct to its executor) and a new run waits in the queue. When
the manager is back on the same address, the executors register again, the
queued run starts, the lease the finished run could not give back meanwhile
is released by the reconciler, and no executor is ever booked beyond its
slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from ccplane.v1 import (
    common_pb2,
    executor_manager_pb2,
    executor_manager_pb2_grpc,
    human_loop_pb2,
    human_loop_pb2_grpc,
    runs_pb2,
    runs_pb2_grpc,
)
from common.credentials import authorized_channel
from common.db import models
from common.db.engine import Database
from common.db.migrate import upgrade
from common.scripted_model import ScriptedModelServer
from common.settings import Settings
from control_plane.api_keys import ensure_local_admin_key
from control_plane.app import ControlPlane
from executor.providers.codex.config import ModelConfig
from tests.keys import INTERNAL_TOKEN
from tests.platform import own_database, scenario_library
from tests.reliability.conftest import QUESTION, all_events, assert_gap_free, free_port, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FINAL = {common_pb2.RUN_STATUS_SUCCEEDED, common_pb2.RUN_STATUS_FAILED, common_pb2.RUN_STATUS_CANCELED}
SLOTS = 2
# Executors retry a lost manager with a backoff of up to 10 s.
REREGISTER_BOUND_S = 30.0
LIBRARY = {
    "wait": {
        "steps": [
            {"output": [QUESTION]},
            {"when_contains": "Yes", "output": [{"message": "Went on."}]},
        ]
    }
}


@dataclass
class Fleet:
    """The manager and executor processes, and how to reach the platform."""

    data_dir: Path
    database_url: str
    model: ScriptedModelServer
    manager_port: int = field(default_factory=free_port)
    manager: asyncio.subprocess.Process | None = None
    executors: list[asyncio.subprocess.Process] = field(default_factory=list)

    @property
    def manager_address(self) -> str:
        return f"127.0.0.1:{self.manager_port}"

    def env(self) -> dict[str, str]:
        scripted = ModelConfig.scripted(self.model.base_url)
        return {
            **os.environ,
            "CCPLANE_DATA_DIR": str(self.data_dir),
            "CCPLANE_LOG_FORMAT": "text",
            "CCPLANE_MODEL_BASE_URL": self.model.base_url,
            "CCPLANE_MODEL": self.model.model,
            "CCPLANE_MODEL_API_KEY": scripted.api_key or "",
        }

    async def _spawn(self, name: str, *args: str) -> asyncio.subprocess.Process:
        log = (self.data_dir / f"{name}.log").open("ab")
        try:
            return await asyncio.create_subprocess_exec(
                sys.executable, *args, stdout=log, stderr=log, env=self.env(), start_new_session=True
            )
        finally:
            log.close()

    async def start_manager(self) -> None:
        self.manager = await self._spawn(
            "manager",
            "-m",
            "executor_manager",
            "--port",
            str(self.manager_port),
            "--database-url",
            self.database_url,
            "--data-dir",
            str(self.data_dir),
            "--min-executors",
            "0",
            "--max-executors",
            "0",
            "--heartbeat-interval",
            "0.5",
            "--heartbeat-timeout",
            "5",
        )

    async def start_executor(self, index: int) -> None:
        self.executors.append(
            await self._spawn(
                f"executor-{index}",
                "-m",
                "executor",
                "--slots",
                str(SLOTS),
                "--manager",
                self.manager_address,
                "--data-dir",
                str(self.data_dir / "executors" / f"e{index}"),
            )
        )

    async def ready_executors(self) -> int:
        try:
            async with authorized_channel(self.manager_address, INTERNAL_TOKEN) as channel:
                listed = await executor_manager_pb2_grpc.ExecutorManagerServiceStub(channel).ListExecutors(
                    executor_manager_pb2.ListExecutorsRequest(), timeout=2
                )
        except Exception:
            return 0
        return sum(e.state == executor_manager_pb2.EXECUTOR_STATE_READY for e in listed.executors)

    async def wait_ready(self, count: int, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            while await self.ready_executors() < count:  # noqa: ASYNC110 - polling the manager is the test
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        for process in [self.manager, *self.executors]:
            if process is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in [self.manager, *self.executors]:
            if process is not None:
                try:
                    await asyncio.wait_for(process.wait(), 15)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    await process.wait()


@dataclass
class Platform:
    fleet: Fleet
    control_plane: ControlPlane
    admin_key: str
    db: Database


@pytest.fixture(scope="module")
def crash_db_url(postgres_server_url: str) -> Iterator[str]:
    with own_database(postgres_server_url, "ccplane_manager_crash") as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def platform(crash_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    data_dir = tmp_path_factory.mktemp("ccplane-manager-crash")
    await upgrade(crash_db_url)
    db = Database(crash_db_url, pool_size=2, application_name="ccplane-manager-crash-tests")
    async with ScriptedModelServer(scenario_library("crash", LIBRARY)) as model:
        fleet = Fleet(data_dir, crash_db_url, model)
        settings = Settings()
        settings.database_url = crash_db_url
        settings.data_dir = data_dir
        settings.default_model = model.model
        settings.reconcile_interval = 0.5
        plane = ControlPlane(settings, crash_db_url, fleet.manager_address)
        try:
            await fleet.start_manager()
            for index in range(2):
                await fleet.start_executor(index)
            await fleet.wait_ready(2, 60)
            async with db.session() as session, session.begin():
                admin_key = await ensure_local_admin_key(session, data_dir / "admin.key")
            await plane.start(host="127.0.0.1", port=0)
            yield Platform(fleet, plane, admin_key, db)
        finally:
            await plane.stop()
            await fleet.stop()
            await db.close()


async def test_runs_outlive_a_manager_crash_and_nothing_is_double_booked(
    platform: Platform, prove: Callable[..., None]
) -> None:
    fleet = platform.fleet
    async with authorized_channel(platform.control_plane.address, platform.admin_key) as channel:
        runs = runs_pb2_grpc.RunServiceStub(channel)
        human_loop = human_loop_pb2_grpc.HumanLoopServiceStub(channel)
        live = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:wait] live"))).run.id
        await wait_for_status(runs, live, {common_pb2.RUN_STATUS_WAITING_HUMAN}, 60)

        assert fleet.manager is not None
        fleet.manager.send_signal(signal.SIGKILL)
        await fleet.manager.wait()

        # The live run goes on to the end without the manager.
        (question,) = (
            await human_loop.ListPendingRequests(human_loop_pb2.ListPendingRequestsRequest(run_id=live))
        ).requests
        await human_loop.Reply(
            human_loop_pb2.ReplyRequest(
                run_id=live,
                question_id=question.question_id,
                questions=human_loop_pb2.QuestionAnswers(
                    answers={"go": human_loop_pb2.QuestionAnswer(answers=["Yes"])}
                ),
            )
        )
        finished = await wait_for_status(runs, live, FINAL, 60)
        assert finished.status == common_pb2.RUN_STATUS_SUCCEEDED, finished.error

        # A new run waits for the manager.
        queued = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:chat] later"))).run.id
        await asyncio.sleep(3)
        assert (await runs.GetRun(runs_pb2.GetRunRequest(run_id=queued))).run.status == (
            common_pb2.RUN_STATUS_QUEUED
        )

        await fleet.start_manager()
        restarted_at = time.monotonic()
        await fleet.wait_ready(2, REREGISTER_BOUND_S)
        reregistered_in = time.monotonic() - restarted_at
        started = await wait_for_status(runs, queued, FINAL, 60)
        assert started.status == common_pb2.RUN_STATUS_SUCCEEDED, started.error
        for run_id in (live, queued):
            assert_gap_free(await all_events(runs, run_id))

    # The lease the live run could not give back while the manager was down
    # is released (the reconciler finds it open for a finished run).
    async with asyncio.timeout(15):
        while await open_leases(platform.db):  # noqa: ASYNC110 - polling the database is the test
            await asyncio.sleep(0.2)
    async with platform.db.session() as session:
        per_run = dict(
            (
                await session.execute(
                    select(models.ExecutorLease.run_id, func.count()).group_by(models.ExecutorLease.run_id)
                )
            ).all()
        )
    assert per_run == {live: 1, queued: 1}, "one lease per run: nothing booked twice"
    prove(
        fault="executor-manager killed (SIGKILL), restarted",
        injected="SIGKILL to the manager process; restart on the same address",
        outcome="the live run finished meanwhile; a new run queued, then ran; stale lease released",
        bound_s=REREGISTER_BOUND_S,
        measured_s=round(reregistered_in, 2),
    )


async def open_leases(db: Database) -> list[str]:
    async with db.session() as session:
        rows = await session.scalars(
            select(models.ExecutorLease.id).where(models.ExecutorLease.released_at.is_(None))
        )
        return list(rows.all())
