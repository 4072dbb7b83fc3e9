"""The object store goes away under live runs, then comes back.

The platform keeps its workspaces in S3: moto's S3 server, run in this
process so that it can be stopped (its port closed, every connection cut)
and started again with its objects, as a real store keeps its disks. The
control plane and the executors (child processes) reach it over HTTP, with
short retry settings. The runs use the real codex and the scripted model.

- Down during a turn, back within the retry budget: the sync says so in a
  ``warning``, waits, and saves a complete version; the run succeeds.
- Down for good: the run fails with ``WORKSPACE_SYNC_FAILED`` within the
  retry budget and records no version; a run that starts meanwhile fails
  with ``OBJECT_STORE_UNAVAILABLE``; once the store is back a new run on the
  same workspace restores, works and syncs.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator

import grpc
import pytest
import pytest_asyncio

from ccplane.v1 import common_pb2, events_pb2, runs_pb2, runs_pb2_grpc, workspaces_pb2, workspaces_pb2_grpc
from common.cli.stack import Stack
from common.objectstore import RetryPolicy, S3ObjectStore, open_store
from tests.integration.objectstore.moto_server import OutageMotoServer, s3_credentials
from tests.platform import own_database, scenario_library
from tests.reliability.conftest import all_events, assert_gap_free, fault_platform, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FINAL: set[int] = {
    common_pb2.RUN_STATUS_SUCCEEDED,
    common_pb2.RUN_STATUS_FAILED,
    common_pb2.RUN_STATUS_CANCELED,
}
# Each request: 9 attempts, waits of 0.5 s and then 1 s — 7.5 s nominal,
# at least half that. A run's sync and restore give up after about that.
RETRIES = 8
RETRY_MAX_S = 1.0
BUDGET_S = RetryPolicy(retries=RETRIES, max_delay_s=RETRY_MAX_S).max_wait_s
# From the store going down to the run failing: the rest of the turn (the
# command's 2 s, a model answer), the retries, the session's close.
FAIL_BOUND_S = 2 + BUDGET_S + 10
# A run that starts while the store is down: its restore's retries, and the
# control plane settling the refusal.
START_FAIL_BOUND_S = BUDGET_S + 10
RUN_BOUND_S = 60.0
SEED = b"seeded before the outage\n"
LIBRARY = {
    # Each writes its own file after a pause that leaves time to stop the
    # store before the turn ends (and the sync begins).
    name: {
        "steps": [
            {"output": [{"exec": f"sleep 2 && echo {word} > {name}.txt"}]},
            {"when_contains": "function_call_output", "output": [{"message": f"Wrote {name}.txt."}]},
        ]
    }
    for name, word in (("first", "one"), ("second", "two"), ("third", "three"))
}


@pytest.fixture(scope="module")
def store_server() -> Iterator[OutageMotoServer]:
    with s3_credentials():
        server = OutageMotoServer()
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="module")
def outage_db_url(postgres_server_url: str) -> Iterator[str]:
    with own_database(postgres_server_url, "ccplane_objstore") as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    store_server: OutageMotoServer, outage_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    url = f"s3://ccplane-outage-{secrets.token_hex(4)}/ws?endpoint={store_server.endpoint}"
    with pytest.MonkeyPatch.context() as env:
        # Read by the control plane here and inherited by the executors.
        env.setenv("CCPLANE_OBJECT_STORE_URL", url)
        env.setenv("CCPLANE_OBJECT_STORE_RETRIES", str(RETRIES))
        env.setenv("CCPLANE_OBJECT_STORE_RETRY_MAX_S", str(RETRY_MAX_S))
        env.setenv("CCPLANE_OBJECT_STORE_TIMEOUT_S", "5")
        bucket = open_store(url)
        assert isinstance(bucket, S3ObjectStore)
        await bucket.ensure_bucket()
        await bucket.close()
        async with fault_platform(
            outage_db_url,
            tmp_path_factory.mktemp("ccplane-objstore"),
            scenario_library("objstore", LIBRARY),
            executors=1,
        ) as stack:
            yield stack


@pytest_asyncio.fixture(loop_scope="session")
async def store(stack: Stack, store_server: OutageMotoServer) -> AsyncIterator[OutageMotoServer]:
    await asyncio.to_thread(store_server.start)
    try:
        yield store_server
    finally:
        await asyncio.to_thread(store_server.start)  # whatever a test left


async def seeded_workspace(workspaces: workspaces_pb2_grpc.WorkspaceServiceStub) -> str:
    """A workspace at version 1 with seed.txt, so that runs restore something."""
    created = await workspaces.CreateWorkspace(workspaces_pb2.CreateWorkspaceRequest(name="outage"))
    written = await workspaces.WriteFile(
        workspaces_pb2.WriteFileRequest(workspace_id=created.workspace.id, path="seed.txt", content=SEED)
    )
    assert written.workspace.current_version == 1
    return str(created.workspace.id)


async def wait_for_event(
    runs: runs_pb2_grpc.RunServiceStub,
    run_id: str,
    matches: Callable[[events_pb2.RunEvent], bool],
    timeout_s: float = RUN_BOUND_S,
) -> events_pb2.RunEvent:
    async with asyncio.timeout(timeout_s):
        while True:
            found = [e for e in await all_events(runs, run_id) if matches(e)]
            if found:
                return found[0]
            await asyncio.sleep(0.1)


def is_type(kind: str) -> Callable[[events_pb2.RunEvent], bool]:
    return lambda e: e.type == kind


def store_warning(event: events_pb2.RunEvent) -> bool:
    return event.type == "warning" and event.warning.reason == "OBJECT_STORE_UNAVAILABLE"


async def current_version(workspaces: workspaces_pb2_grpc.WorkspaceServiceStub, workspace_id: str) -> int:
    got = await workspaces.GetWorkspace(workspaces_pb2.GetWorkspaceRequest(workspace_id=workspace_id))
    return int(got.workspace.current_version)


async def read(workspaces: workspaces_pb2_grpc.WorkspaceServiceStub, workspace_id: str, path: str) -> bytes:
    got = await workspaces.ReadFile(workspaces_pb2.ReadFileRequest(workspace_id=workspace_id, path=path))
    return bytes(got.content)


async def start_run(runs: runs_pb2_grpc.RunServiceStub, scenario: str, workspace_id: str) -> str:
    created = await runs.CreateRun(
        runs_pb2.CreateRunRequest(prompt=f"[scenario:{scenario}] write it", workspace_id=workspace_id)
    )
    return str(created.run.id)


async def test_a_short_outage_during_a_turn_is_waited_out(
    stack: Stack, store: OutageMotoServer, prove: Callable[..., None]
) -> None:
    async with stack.channel() as channel:
        runs = runs_pb2_grpc.RunServiceStub(channel)
        workspaces = workspaces_pb2_grpc.WorkspaceServiceStub(channel)
        workspace_id = await seeded_workspace(workspaces)
        run_id = await start_run(runs, "first", workspace_id)
        await wait_for_event(runs, run_id, is_type("command.started"))
        await asyncio.to_thread(store.stop)
        down_at = time.monotonic()
        # The sync meets the outage and says so; the store comes back while
        # it is still retrying.
        warned = await wait_for_event(runs, run_id, store_warning)
        await asyncio.to_thread(store.start)
        back_at = time.monotonic()
        assert warned.warning.message.startswith("saving the workspace: the object store is unreachable")

        done = await wait_for_status(runs, run_id, FINAL, RUN_BOUND_S)
        recovered_in = time.monotonic() - back_at
        assert recovered_in <= RUN_BOUND_S
        assert done.status == common_pb2.RUN_STATUS_SUCCEEDED, f"{done.error_reason}: {done.error}"
        events = await all_events(runs, run_id)
        assert_gap_free(events)
        (synced,) = [e for e in events if e.type == "workspace.synced"]
        assert synced.seq > warned.seq and synced.workspace_synced.version == 2
        assert not [e for e in events if e.type == "warning" and "not recorded" in e.warning.message]

        # The version is complete: the new file and the restored one.
        assert await current_version(workspaces, workspace_id) == 2
        assert await read(workspaces, workspace_id, "first.txt") == b"one\n"
        assert await read(workspaces, workspace_id, "seed.txt") == SEED
    prove(
        fault=f"object store down during a turn for {back_at - down_at:.1f} s, within the retry budget",
        injected="S3 server (moto) stopped once the run's command started (port closed, connections "
        "cut), started again once the sync warned",
        outcome="the sync warned OBJECT_STORE_UNAVAILABLE, retried and saved complete version 2 "
        "(new file and restored one); run succeeded",
        bound_s=RUN_BOUND_S,
        measured_s=round(recovered_in, 2),
    )


async def test_a_store_that_stays_down_fails_the_run_and_records_nothing(
    stack: Stack, store: OutageMotoServer, prove: Callable[..., None]
) -> None:
    async with stack.channel() as channel:
        runs = runs_pb2_grpc.RunServiceStub(channel)
        workspaces = workspaces_pb2_grpc.WorkspaceServiceStub(channel)
        workspace_id = await seeded_workspace(workspaces)

        # Down during the turn, for good: the sync gives up and the run fails.
        run_id = await start_run(runs, "second", workspace_id)
        await wait_for_event(runs, run_id, is_type("command.started"))
        await asyncio.to_thread(store.stop)
        down_at = time.monotonic()
        failed = await wait_for_status(runs, run_id, FINAL, FAIL_BOUND_S)
        failed_in = time.monotonic() - down_at
        assert failed.status == common_pb2.RUN_STATUS_FAILED
        assert failed.error_reason == "WORKSPACE_SYNC_FAILED", failed.error
        assert failed.error.startswith("the workspace could not be saved: the object store is unreachable")
        assert f"changes since version 1 of workspace {workspace_id} are not saved" in failed.error
        assert failed_in <= FAIL_BOUND_S
        events = await all_events(runs, run_id)
        assert_gap_free(events)
        warnings = [e for e in events if store_warning(e)]
        assert warnings, "the user was told while it retried"
        assert [e.error.reason for e in events if e.type == "error"] == ["WORKSPACE_SYNC_FAILED"]
        assert not [e for e in events if e.type == "workspace.synced"]
        assert await current_version(workspaces, workspace_id) == 1, "no version was recorded"

        # A run that starts while the store is still down cannot restore.
        started = time.monotonic()
        run_id = await start_run(runs, "third", workspace_id)
        refused = await wait_for_status(runs, run_id, FINAL, START_FAIL_BOUND_S)
        refused_in = time.monotonic() - started
        assert refused_in <= START_FAIL_BOUND_S
        assert refused.status == common_pb2.RUN_STATUS_FAILED
        assert refused.error_reason == "OBJECT_STORE_UNAVAILABLE", refused.error
        assert f"cannot restore version 1 of workspace {workspace_id}" in refused.error
        assert_gap_free(await all_events(runs, run_id))
        assert await current_version(workspaces, workspace_id) == 1

        # Back: a new run on the same workspace restores, works and syncs.
        await asyncio.to_thread(store.start)
        run_id = await start_run(runs, "third", workspace_id)
        done = await wait_for_status(runs, run_id, FINAL, RUN_BOUND_S)
        assert done.status == common_pb2.RUN_STATUS_SUCCEEDED, f"{done.error_reason}: {done.error}"
        events = await all_events(runs, run_id)
        assert_gap_free(events)
        (synced,) = [e for e in events if e.type == "workspace.synced"]
        assert synced.workspace_synced.version == 2
        assert await current_version(workspaces, workspace_id) == 2
        assert await read(workspaces, workspace_id, "third.txt") == b"three\n"
        assert await read(workspaces, workspace_id, "seed.txt") == SEED
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await read(workspaces, workspace_id, "second.txt")
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND, (
            "the failed run's changes were never recorded"
        )
    prove(
        fault="object store down for good during a turn",
        injected="S3 server (moto) stopped once the run's command started; "
        f"retry budget {BUDGET_S:g} s per request",
        outcome=f"the sync warned OBJECT_STORE_UNAVAILABLE ({len(warnings)}x), then the run failed "
        f"WORKSPACE_SYNC_FAILED in {failed_in:.1f} s, no version recorded; a run started meanwhile "
        f"failed OBJECT_STORE_UNAVAILABLE in {refused_in:.1f} s (bound {START_FAIL_BOUND_S:g} s); "
        "once the store was back a new run restored version 1, worked and synced version 2",
        bound_s=FAIL_BOUND_S,
        measured_s=round(failed_in, 2),
    )
