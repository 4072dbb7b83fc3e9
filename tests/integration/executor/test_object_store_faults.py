"""An executor whose object store goes away: restore and sync, with the
real codex binary, the scripted model and moto's S3 server, which is
stopped (port closed, connections cut) and started again with its objects.

What a run's caller sees: a restore the store cannot serve refuses the
session (FAILED_PRECONDITION, ``OBJECT_STORE_UNAVAILABLE``); a sync that
meets an outage says so in a ``warning`` and goes on once the store is
back; a sync the store never serves ends the session failed
(``WORKSPACE_SYNC_FAILED``) and stages no manifest.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ccplane.v1 import executor_pb2, executor_pb2_grpc, runs_pb2
from common import ids
from common.objectstore import RetryPolicy, S3ObjectStore
from common.objectstore.layout import blob_key, manifest_key, staged_manifest_key
from common.objectstore.manifest import FileMeta, Manifest
from common.scripted_model import ScriptedModelServer
from executor.app import Executor
from executor.providers.codex import ModelConfig, SessionLimits
from executor.sessions import HostConfig
from tests.integration.executor.test_executor_service import Stream, close, is_event, is_kind
from tests.integration.objectstore.moto_server import OutageMotoServer, new_s3_store, s3_credentials
from tests.keys import internal_channel

# Nominal waits 0.1, 0.2, 0.4 and then 0.5 s: 3.2 s in all, at least half that.
POLICY = RetryPolicy(retries=8, max_delay_s=0.5, first_delay_s=0.1, timeout_s=5.0)
SLACK_S = 5.0
SCENARIO: dict[str, Any] = {
    "name": "write-one-file",
    "steps": [
        {"output": [{"exec": "echo saved > out.txt"}]},
        {"when_contains": "function_call_output", "output": [{"message": "Wrote out.txt."}]},
    ],
}
SEED = b"seeded before the run\n"


@pytest.fixture(scope="module")
def server() -> Iterator[OutageMotoServer]:
    with s3_credentials():
        server = OutageMotoServer()
        server.start()
        try:
            yield server
        finally:
            server.stop()


class Harness:
    """One executor on the S3 store, and the scripted model."""

    def __init__(self, server: OutageMotoServer, tmp_path: Path) -> None:
        self.server = server
        self.tmp_path = tmp_path
        self.model = ScriptedModelServer(SCENARIO)
        self.objects: S3ObjectStore | None = None
        self.executor: Executor | None = None
        self.channel: grpc.aio.Channel | None = None
        self.stub: executor_pb2_grpc.ExecutorServiceStub | None = None

    async def start(self) -> None:
        await self.model.start()
        self.objects = await new_s3_store(self.server.endpoint, retry=POLICY)
        config = HostConfig(
            executor_id=ids.new_id(ids.EXECUTOR),
            data_dir=self.tmp_path / "executor",
            slots=2,
            objects=self.objects,
        )
        self.executor = Executor(
            config,
            session_options={
                "model": ModelConfig.scripted(self.model.base_url),
                "limits": SessionLimits(request_timeout=15, stop_grace=0.5),
            },
        )
        await self.executor.start()
        self.channel = internal_channel(self.executor.address)
        self.stub = executor_pb2_grpc.ExecutorServiceStub(self.channel)

    async def stop(self) -> None:
        self.server.start()
        if self.channel is not None:
            await self.channel.close()
        if self.executor is not None:
            await self.executor.stop()
        if self.objects is not None:
            await self.objects.close()
        await self.model.stop()

    async def seed(self) -> tuple[str, Manifest]:
        """A workspace whose version 1 holds one file, as the control plane records it."""
        assert self.objects is not None
        workspace_id = ids.new_id(ids.WORKSPACE)
        sha = hashlib.sha256(SEED).hexdigest()
        await self.objects.put_bytes(blob_key(sha), SEED)
        manifest = Manifest.empty(workspace_id).successor({"seed.txt": FileMeta(sha, len(SEED))})
        await self.objects.put_bytes(manifest_key(workspace_id, 1), manifest.to_json())
        return workspace_id, manifest

    def start_session(self, run_id: str, workspace_id: str, version: int) -> Stream:
        assert self.stub is not None
        start = executor_pb2.StartSession(
            run_id=run_id,
            prompt="write it",
            model=self.model.model,
            settings=runs_pb2.RunSettings(approval_mode=runs_pb2.APPROVAL_MODE_NEVER),
            workspace_id=workspace_id,
            workspace_version=version,
        )
        return Stream(self.stub, executor_pb2.SessionRequest(start=start))

    def workspace_dir(self, run_id: str) -> Path:
        assert self.executor is not None
        box = self.executor.host.get(run_id).box
        return box.workspace_dir if box else self.executor.config.data_dir / "workspaces" / run_id

    async def down(self) -> None:
        await asyncio.to_thread(self.server.stop)

    async def up(self) -> None:
        await asyncio.to_thread(self.server.start)


@pytest_asyncio.fixture
async def harness(server: OutageMotoServer, tmp_path: Path) -> AsyncIterator[Harness]:
    server.start()
    h = Harness(server, tmp_path)
    try:
        await h.start()
        yield h
    finally:
        await h.stop()


def warnings(stream: Stream, reason: str) -> list[str]:
    return [
        o.event.warning.message
        for o in stream.outputs
        if o.WhichOneof("output") == "event"
        and o.event.type == "warning"
        and o.event.warning.reason == reason
    ]


def error_reason(exc: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(exc)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return ""


async def test_a_restore_the_store_cannot_serve_refuses_the_session(harness: Harness) -> None:
    workspace_id, _ = await harness.seed()
    await harness.down()
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await harness.start_session(ids.new_id(ids.RUN), workspace_id, 1).until(lambda o: True)
    assert time.monotonic() - started <= POLICY.max_wait_s + SLACK_S
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(refused.value) == "OBJECT_STORE_UNAVAILABLE"
    details = refused.value.details() or ""
    assert f"cannot restore version 1 of workspace {workspace_id}" in details
    assert "unreachable" in details and "gave up after 9 attempts" in details


async def test_a_restore_that_outlasts_a_short_outage_says_so(harness: Harness) -> None:
    workspace_id, _ = await harness.seed()
    await harness.down()
    run_id = ids.new_id(ids.RUN)
    stream = harness.start_session(run_id, workspace_id, 1)
    # The outage itself: the restore retries meanwhile, well within its budget.
    await asyncio.sleep(0.6)
    await harness.up()
    await stream.until(is_event("turn.completed"))
    assert (harness.workspace_dir(run_id) / "seed.txt").read_bytes() == SEED
    (restored,) = warnings(stream, "OBJECT_STORE_UNAVAILABLE")
    assert restored.startswith("restoring the workspace: the object store was unreachable")
    await stream.until(is_event("workspace.synced"))
    stream.send(close())
    ended = await stream.until(is_kind("ended"))
    assert ended.ended.outcome == executor_pb2.SESSION_OUTCOME_COMPLETED


async def test_a_sync_waits_out_a_short_outage(harness: Harness) -> None:
    assert harness.objects is not None
    workspace_id, _ = await harness.seed()
    run_id = ids.new_id(ids.RUN)
    stream = harness.start_session(run_id, workspace_id, 1)
    await stream.until(is_event("command.started"))
    await harness.down()
    warned = await stream.until(
        lambda o: o.WhichOneof("output") == "event" and o.event.warning.reason == "OBJECT_STORE_UNAVAILABLE"
    )
    assert warned.event.warning.message.startswith("saving the workspace: the object store is unreachable")
    await harness.up()
    synced = await stream.until(is_event("workspace.synced"))
    assert synced.event.workspace_synced.version == 2
    assert list(synced.event.workspace_synced.changed_paths) == ["out.txt"]
    stream.send(close())
    ended = await stream.until(is_kind("ended"))
    assert ended.ended.outcome == executor_pb2.SESSION_OUTCOME_COMPLETED
    assert len(warnings(stream, "OBJECT_STORE_UNAVAILABLE")) == 1, "one warning per sync, not per retry"

    # The staged version is complete: every blob it names is in the store.
    staged = Manifest.from_json(await harness.objects.get_bytes(staged_manifest_key(workspace_id, run_id, 2)))
    assert set(staged.files) == {"seed.txt", "out.txt"}
    for meta in staged.files.values():
        assert await harness.objects.exists(blob_key(meta.sha256))


async def test_a_sync_the_store_never_serves_fails_the_session_and_stages_nothing(harness: Harness) -> None:
    assert harness.objects is not None
    workspace_id, _ = await harness.seed()
    run_id = ids.new_id(ids.RUN)
    stream = harness.start_session(run_id, workspace_id, 1)
    await stream.until(is_event("command.started"))
    await harness.down()
    await stream.until(is_event("turn.completed"))
    turn_done = time.monotonic()
    ended = await stream.until(is_kind("ended"))
    assert time.monotonic() - turn_done <= POLICY.max_wait_s + SLACK_S
    assert ended.ended.outcome == executor_pb2.SESSION_OUTCOME_FAILED
    assert ended.ended.error_reason == "WORKSPACE_SYNC_FAILED"
    assert ended.ended.error.startswith("the workspace could not be saved: the object store is unreachable")
    assert f"changes since version 1 of workspace {workspace_id} are not saved" in ended.ended.error
    kinds = stream.kinds()
    assert "workspace.synced" not in kinds
    assert kinds.index("warning") < kinds.index("error")
    (error,) = [
        o.event.error for o in stream.outputs if o.WhichOneof("output") == "event" and o.event.type == "error"
    ]
    assert error.reason == "WORKSPACE_SYNC_FAILED"

    await harness.up()
    staged = [info.key async for info in harness.objects.list(f"staged/{workspace_id}/")]
    assert staged == [], "no manifest was staged, so no version can be recorded"
