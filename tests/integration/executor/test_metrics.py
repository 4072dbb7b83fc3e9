"""The executor's /metrics, scraped over HTTP while real codex sessions (the
scripted model) restore, run, sync and fail."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest_asyncio

from ccplane.v1 import executor_pb2, executor_pb2_grpc, runs_pb2
from common import ids
from common.objectstore.layout import blob_key, manifest_key
from common.objectstore.local import LocalObjectStore
from common.objectstore.manifest import FileMeta, Manifest
from common.scripted_model import ScriptedModelServer
from executor.app import Executor
from executor.providers.codex import ModelConfig, SessionLimits
from executor.sessions import HostConfig
from tests.integration.executor.test_executor_service import Stream, close, is_event, is_kind
from tests.keys import internal_channel
from tests.metrics_scrape import Scrape, scrape

SCENARIO: dict[str, Any] = {
    "name": "write-one-file",
    "steps": [
        {"output": [{"exec": "printf saved > out.txt"}]},
        {"when_contains": "function_call_output", "output": [{"message": "Wrote out.txt."}]},
    ],
}
SEED = b"seeded before the run\n"
CODEX = "codex-app-server"


class Harness:
    """One executor (metrics on a free port) on a local object store, and the scripted model."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.model = ScriptedModelServer(SCENARIO)
        self.objects = LocalObjectStore(tmp_path / "objects", fsync=False)
        self.executor: Executor | None = None
        self.channel: grpc.aio.Channel | None = None

    async def start(self, model: ModelConfig | None = None) -> executor_pb2_grpc.ExecutorServiceStub:
        await self.model.start()
        config = HostConfig(
            executor_id=ids.new_id(ids.EXECUTOR),
            data_dir=self.tmp_path / "executor",
            slots=2,
            objects=self.objects,
        )
        self.executor = Executor(
            config,
            session_options={
                "model": model or ModelConfig.scripted(self.model.base_url),
                "limits": SessionLimits(request_timeout=15, stop_grace=0.5),
            },
        )
        await self.executor.start()
        self.channel = internal_channel(self.executor.address)
        return executor_pb2_grpc.ExecutorServiceStub(self.channel)

    async def stop(self) -> None:
        if self.channel is not None:
            await self.channel.close()
        if self.executor is not None:
            await self.executor.stop()
        await self.model.stop()

    async def scrape(self) -> Scrape:
        assert self.executor is not None
        return await scrape(self.executor.metrics_url)

    async def seed(self) -> str:
        """A workspace whose version 1 holds one file, as the control plane records it."""
        workspace_id = ids.new_id(ids.WORKSPACE)
        sha = hashlib.sha256(SEED).hexdigest()
        await self.objects.put_bytes(blob_key(sha), SEED)
        manifest = Manifest.empty(workspace_id).successor({"seed.txt": FileMeta(sha, len(SEED))})
        await self.objects.put_bytes(manifest_key(workspace_id, 1), manifest.to_json())
        return workspace_id

    def start_request(self, run_id: str, workspace_id: str = "") -> executor_pb2.SessionRequest:
        start = executor_pb2.StartSession(
            run_id=run_id,
            prompt="write it",
            model=self.model.model,
            settings=runs_pb2.RunSettings(approval_mode=runs_pb2.APPROVAL_MODE_NEVER),
            workspace_id=workspace_id,
            workspace_version=1 if workspace_id else 0,
        )
        return executor_pb2.SessionRequest(start=start)


@pytest_asyncio.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path)
    try:
        yield h
    finally:
        await h.stop()


async def test_a_session_moves_the_session_and_workspace_metrics(harness: Harness) -> None:
    stub = await harness.start()
    assert harness.executor is not None and harness.executor.metrics_endpoint is not None
    assert harness.executor.metrics_address == f"127.0.0.1:{harness.executor.metrics_endpoint.port}"
    idle = await harness.scrape()
    assert idle.value("ccplane_executor_sessions") == 0
    assert idle.value("ccplane_codex_processes") == 0
    assert idle.value("ccplane_codex_resident_memory_bytes") == 0
    assert idle.value("ccplane_workspace_restore_duration_seconds_count") == 0
    assert idle.value("ccplane_provider_errors_total", provider=CODEX) == 0

    workspace_id = await harness.seed()
    stream = Stream(stub, harness.start_request(ids.new_id(ids.RUN), workspace_id))
    # Reported once the turn's changes are saved (the sync is recorded before).
    await stream.until(is_event("workspace.synced"))
    live = await harness.scrape()
    assert live.value("ccplane_executor_sessions") == 1
    assert live.value("ccplane_codex_processes") == 1, "the session's codex app-server"
    assert live.value("ccplane_codex_resident_memory_bytes") > 1024 * 1024
    assert live.value("ccplane_workspace_restore_duration_seconds_count") == 1
    assert live.value("ccplane_workspace_restore_bytes_total") == len(SEED)
    assert live.value("ccplane_workspace_sync_duration_seconds_count") == 1
    assert live.value("ccplane_workspace_sync_bytes_total") == len(b"saved")

    stream.send(close())
    ended = await stream.until(is_kind("ended"))
    assert ended.ended.outcome == executor_pb2.SESSION_OUTCOME_COMPLETED
    after = await harness.scrape()
    assert after.value("ccplane_executor_sessions") == 0
    assert after.value("ccplane_codex_processes") == 0
    # The final sync found nothing new to upload.
    assert after.value("ccplane_workspace_sync_bytes_total") == len(b"saved")
    assert after.value("ccplane_provider_errors_total", provider=CODEX) == 0
    session_calls = dict(grpc_service="ccplane.v1.ExecutorService", grpc_method="Session")
    assert after.value("ccplane_grpc_server_started_total", **session_calls) == 1


async def test_a_session_that_fails_counts_as_a_provider_error(harness: Harness) -> None:
    stub = await harness.start(ModelConfig(invalid="broken on purpose by the test"))
    stream = Stream(stub, harness.start_request(ids.new_id(ids.RUN)))
    ended = await stream.until(is_kind("ended"))
    assert ended.ended.outcome == executor_pb2.SESSION_OUTCOME_FAILED
    scraped = await harness.scrape()
    assert scraped.value("ccplane_provider_errors_total", provider=CODEX) == 1
    assert scraped.value("ccplane_executor_sessions") == 0
