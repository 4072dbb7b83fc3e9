"""PostgreSQL goes away under a live run, then comes back.

The platform runs on a PostgreSQL server this test started itself (the
embedded one, on a Unix socket in a temporary directory). Mid-run the
server is shut down for a few seconds. Meanwhile calls answer UNAVAILABLE
(never INTERNAL), the executor keeps what the session produces, and once
the server is back the control plane reconnects, re-attaches and stores
every output once: the run succeeds with a gap-free log holding each
command once, and new runs work.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable

import grpc
import pytest
import pytest_asyncio

from ccplane.v1 import common_pb2, runs_pb2, runs_pb2_grpc
from common.cli.stack import Stack
from tests.platform import scenario_library
from tests.reliability.conftest import Postgres, all_events, assert_gap_free, fault_platform, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FINAL = {common_pb2.RUN_STATUS_SUCCEEDED, common_pb2.RUN_STATUS_FAILED, common_pb2.RUN_STATUS_CANCELED}
COMMANDS = 6
OUTAGE_S = 6.0
# After the server is back: reconnect (backoff up to a few seconds),
# re-attach, replay, and the rest of the scenario.
RECOVERY_BOUND_S = 60.0
LIBRARY = {
    "steady": {
        "steps": [
            *[{"output": [{"exec": f"sleep 1 && echo step-{i}"}]} for i in range(COMMANDS)],
            {"output": [{"message": "All steps done."}]},
        ]
    }
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with fault_platform(
        postgres.url,
        tmp_path_factory.mktemp("ccplane-outage"),
        scenario_library("outage", LIBRARY),
        executors=1,
        # Key lookups are cached briefly; the outage must be felt by calls.
        settings={"auth_cache_ttl": 0.0},
    ) as stack:
        yield stack


async def test_a_database_restart_mid_run_loses_nothing(
    stack: Stack, postgres: Postgres, prove: Callable[..., None]
) -> None:
    async with stack.channel() as channel:
        runs = runs_pb2_grpc.RunServiceStub(channel)
        run_id = (await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:steady] go"))).run.id
        await wait_for_status(runs, run_id, {common_pb2.RUN_STATUS_RUNNING}, 60)
        await asyncio.sleep(1.5)  # a command or two in

        await postgres.stop()
        try:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await runs.GetRun(runs_pb2.GetRunRequest(run_id=run_id), timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value.details()
            await asyncio.sleep(OUTAGE_S)
        finally:
            await postgres.start()
        back_at = time.monotonic()

        done = await wait_for_status(runs, run_id, FINAL, RECOVERY_BOUND_S)
        recovered_in = time.monotonic() - back_at
        assert done.status == common_pb2.RUN_STATUS_SUCCEEDED, done.error
        events = await all_events(runs, run_id)
        assert_gap_free(events)
        started = Counter(e.command_started.item_id for e in events if e.type == "command.started")
        completed = Counter(e.command_completed.item_id for e in events if e.type == "command.completed")
        assert len(started) == COMMANDS and set(started.values()) == {1}, started
        assert started.keys() == completed.keys() and set(completed.values()) == {1}, completed
        outputs = "".join(e.command_output.chunk for e in events if e.type == "command.output")
        for i in range(COMMANDS):
            assert outputs.count(f"step-{i}\n") == 1, f"step-{i}'s output is stored once"

        after = await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:chat] after the outage"))
        again = await wait_for_status(runs, after.run.id, FINAL, 60)
        assert again.status == common_pb2.RUN_STATUS_SUCCEEDED, again.error
    prove(
        fault=f"PostgreSQL down for {OUTAGE_S:g} s mid-run",
        injected="the test's own PostgreSQL server stopped, then started",
        outcome="calls answered UNAVAILABLE; the run resumed and succeeded, each command stored once",
        bound_s=RECOVERY_BOUND_S,
        measured_s=round(recovered_in, 2),
    )
