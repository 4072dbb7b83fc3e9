"""Runs on workspaces in object storage: each run restores the workspace's
current version and syncs its changes back as a new version."""

from __future__ import annotations

import shutil

from ccplane.v1 import common_pb2, runs_pb2, runs_pb2_grpc, workspaces_pb2, workspaces_pb2_grpc
from common.cli.stack import Stack
from tests.e2e.platform.conftest import follow


async def test_a_run_sees_what_the_previous_run_wrote(
    stack: Stack, runs: runs_pb2_grpc.RunServiceStub
) -> None:
    async with stack.channel() as channel:
        workspaces = workspaces_pb2_grpc.WorkspaceServiceStub(channel)
        workspace = (
            await workspaces.CreateWorkspace(workspaces_pb2.CreateWorkspaceRequest(name="e2e"))
        ).workspace

        first = (
            await runs.CreateRun(
                runs_pb2.CreateRunRequest(prompt="[scenario:quick] write hello", workspace_id=workspace.id)
            )
        ).run
        events = await follow(runs, first.id)
        assert events[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED
        (synced,) = [e.workspace_synced for e in events if e.type == "workspace.synced"]
        assert synced.workspace_id == workspace.id and "hello.txt" in synced.changed_paths
        read = await workspaces.ReadFile(
            workspaces_pb2.ReadFileRequest(workspace_id=workspace.id, path="hello.txt")
        )
        assert read.content == b"hello\n" and read.version == synced.version

        audit = await workspaces.ListAuditEvents(
            workspaces_pb2.ListAuditEventsRequest(workspace_id=workspace.id)
        )
        assert any(a.run_id == first.id and a.path == "hello.txt" for a in audit.events)

        second = (
            await runs.CreateRun(
                runs_pb2.CreateRunRequest(prompt="[scenario:read] read hello", workspace_id=workspace.id)
            )
        ).run
        events = await follow(runs, second.id)
        assert events[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED
        (command,) = [e.command_completed for e in events if e.type == "command.completed"]
        assert "hello" in command.output, "the second run restored the first run's version"
        second = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=second.id))).run
        assert second.workspace_version == synced.version


async def test_resume_restores_the_thread_from_object_storage(
    stack: Stack, runs: runs_pb2_grpc.RunServiceStub
) -> None:
    first = (
        await runs.CreateRun(runs_pb2.CreateRunRequest(prompt="[scenario:chat] the code word is HERON"))
    ).run
    await follow(runs, first.id)
    first = (await runs.GetRun(runs_pb2.GetRunRequest(run_id=first.id))).run
    # Every executor of this host loses its local copy of the thread: only the
    # object store still has it.
    shutil.rmtree(stack.settings.resolved_data_dir() / "threads")
    second = (
        await runs.CreateRun(
            runs_pb2.CreateRunRequest(
                prompt="[scenario:chat] which code word?", resume_thread_id=first.thread_id
            )
        )
    ).run
    events = await follow(runs, second.id)
    assert events[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED, [e.type for e in events]
    assert stack.model is not None
    asked = [r for r in stack.model.requests if r.contains("which code word?")]
    assert asked and asked[0].contains("the code word is HERON"), "the thread came back from the object store"
