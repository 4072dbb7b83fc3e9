"""PostgreSQL stays away longer than an executor keeps a session's outputs.

The executor's replay buffer is made small (``CCPLANE_EXECUTOR_REPLAY_CAPACITY``)
and the run chatty, so that while the test's own PostgreSQL is down the
session produces more than the buffer holds. Once the server is back the
control plane cannot store what was dropped: the run fails with
``REPLAY_WINDOW_EXCEEDED`` saying so, instead of a log with a hole; what was
stored before stays gap-free; the abandoned session is closed; new runs work.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from ccplane.v1 import common_pb2, runs_pb2, runs_pb2_grpc
from common.cli.stack import Stack
from tests.platform import scenario_library
from tests.reliability.conftest import Postgres, all_events, assert_gap_free, fault_platform, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FINAL = {common_pb2.RUN_STATUS_SUCCEEDED, common_pb2.RUN_STATUS_FAILED, common_pb2.RUN_STATUS_CANCELED}
REPLAY_CAPACITY = 40
OUTAGE_S = 8.0
RECOVERY_BOUND_S = 60.0
CHATTY = "for i in $(seq 1 30); do echo line-$i; sleep 0.05; done"
LIBRARY = {
    "chatty": {
        "steps": [
            *[{"output": [{"exec": CHATTY}]} for _ in range(12)],
            {"output": [{"message": "Said a lot."}]},
        ]
    }
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with fault_platform(
        postgres.url,
        tmp_path_factory.mktemp("ccplane-long-outage"),
        scenario_library("long-outage", LIBRARY),
        executors=1,
        settings={"auth_cache_ttl": 0.0},
        extra_manager_config={"executor_env": {"CCPLANE_EXECUTOR_REPLAY_CAPACITY": str(REPLAY_CAPACITY)}},
    ) as stack:
        yield stack


async def test_an_outage_longer_than_the_replay_buffer_fails_the_run_saying_so(
    stack: Stack, postgres: Postgres, prove: Callable[..., None]
) -> None:
    async with stack.channel() as channel:
        runs = runs_pb2_grpc.RunServiceStub(channel)
        run_id = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:chatty] talk"))).run.id
        async with asyncio.timeout(60):
            async for event in runs.StreamRunEvents(runs_pb2.StreamRunEventsRequest(run_id=run_id)):
                if event.type == "command.output":
                    break

        await postgres.stop()
        try:
            await asyncio.sleep(OUTAGE_S)
        finally:
            await postgres.start()
        back_at = time.monotonic()

        done = await wait_for_status(runs, run_id, FINAL, RECOVERY_BOUND_S)
        settled_in = time.monotonic() - back_at
        assert done.status == common_pb2.RUN_STATUS_FAILED
        assert done.error_reason == "REPLAY_WINDOW_EXCEEDED", done.error
        assert "away longer than the executor keeps outputs" in done.error
        events = await all_events(runs, run_id)
        assert_gap_free(events)
        assert events[-1].type == "run.status_changed"
        assert events[-1].status_changed.status == common_pb2.RUN_STATUS_FAILED, "nothing after the end"

        after = await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:chat] after it"))
        again = await wait_for_status(runs, after.run.id, FINAL, 60)
        assert again.status == common_pb2.RUN_STATUS_SUCCEEDED, again.error
    prove(
        fault=f"PostgreSQL down {OUTAGE_S:g} s, longer than the executor's replay buffer",
        injected=f"the test's own PostgreSQL stopped; replay buffer {REPLAY_CAPACITY} outputs",
        outcome="run failed REPLAY_WINDOW_EXCEEDED, saying so; the stored log is gap-free",
        bound_s=RECOVERY_BOUND_S,
        measured_s=round(settled_in, 2),
    )
