"""The whole platform on loopback: control plane, executor-manager, real
executor processes running the real codex binary against the scripted model.

One stack serves every test of the package (starting executors costs about a
second each). The scripted model plays a library of scenarios; a run picks
one with a ``[scenario:NAME]`` tag in its prompt, and every run plays its
scenario from the start (a cursor per agent thread).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import grpc
import pytest
import pytest_asyncio

from ccplane.v1 import common_pb2, events_pb2, runs_pb2, runs_pb2_grpc, workspaces_pb2, workspaces_pb2_grpc
from common.cli.stack import Stack
from tests.platform import own_database, running_platform, scenario_library

WAIT_S = 60.0

SCENARIOS = scenario_library("e2e-library")


@pytest.fixture(scope="package")
def platform_db_url(postgres_server_url: str) -> Iterator[str]:
    """A database of the platform's own: executors registered by other suites'
    managers must not receive this stack's runs."""
    with own_database(postgres_server_url, "ccplane_e2e") as url:
        yield url


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def stack(platform_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    data_dir = tmp_path_factory.mktemp("ccplane-e2e")
    async with running_platform(platform_db_url, data_dir, SCENARIOS) as stack:
        yield stack


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


async def workspace_file(stack: Stack, run: runs_pb2.Run, path: str) -> bytes | None:
    """``path`` in the run's workspace as the run left it (its current
    version in the store; the executor's copy goes with the session)."""
    async with stack.channel() as channel:
        files = workspaces_pb2_grpc.WorkspaceServiceStub(channel)
        try:
            read = await files.ReadFile(
                workspaces_pb2.ReadFileRequest(workspace_id=run.workspace_id, path=path)
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return read.content
