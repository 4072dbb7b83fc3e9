"""Concurrent changes to one workspace: the row lock orders them, and
``expected_version`` lets exactly one of several racing edits win."""

from __future__ import annotations

import asyncio
import hashlib

import grpc

from ccplane.v1 import workspaces_pb2 as pb
from ccplane.v1 import workspaces_pb2_grpc
from common.db.engine import Database
from common.objectstore import ObjectStore
from executor.workspace import load_manifest
from tests.integration.workspaces.conftest import error_info, new_workspace

Stub = workspaces_pb2_grpc.WorkspaceServiceStub
RACERS = 8


async def outcome(call: object) -> pb.WriteFileResponse | grpc.aio.AioRpcError:
    try:
        return await call  # type: ignore[misc, no-any-return]
    except grpc.aio.AioRpcError as err:
        return err


async def test_exactly_one_conditional_write_wins(workspaces: Stub) -> None:
    ws = (await new_workspace(workspaces)).id
    await workspaces.WriteFile(pb.WriteFileRequest(workspace_id=ws, path="doc.md", content=b"base"))
    results = await asyncio.gather(
        *(
            outcome(
                workspaces.WriteFile(
                    pb.WriteFileRequest(
                        workspace_id=ws, path="doc.md", content=f"edit {i}".encode(), expected_version=1
                    )
                )
            )
            for i in range(RACERS)
        )
    )
    winners = [r for r in results if isinstance(r, pb.WriteFileResponse)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1, results
    assert winners[0].version == 2
    assert len(losers) == RACERS - 1
    for err in losers:
        assert err.code() == grpc.StatusCode.ABORTED
        assert error_info(err).metadata["current_version"] == "2"
    read = await workspaces.ReadFile(pb.ReadFileRequest(workspace_id=ws, path="doc.md"))
    assert hashlib.sha256(read.content).hexdigest() == winners[0].file.sha256
    assert read.content.startswith(b"edit ")
    audit = await workspaces.ListAuditEvents(pb.ListAuditEventsRequest(workspace_id=ws, path="doc.md"))
    assert [e.version for e in audit.events] == [2, 1]


async def test_unconditional_writes_each_get_a_version(
    workspaces: Stub, objects: ObjectStore, database: Database
) -> None:
    ws = (await new_workspace(workspaces)).id
    results = await asyncio.gather(
        *(
            workspaces.WriteFile(pb.WriteFileRequest(workspace_id=ws, path=f"f{i}.txt", content=b"x"))
            for i in range(RACERS)
        )
    )
    assert sorted(r.version for r in results) == list(range(1, RACERS + 1))
    final = await load_manifest(objects, ws, RACERS)
    assert sorted(final.files) == sorted(f"f{i}.txt" for i in range(RACERS)), "no write was lost"
    for version in range(1, RACERS + 1):
        manifest = await load_manifest(objects, ws, version)
        assert (manifest.parent_version, manifest.file_count) == (version - 1, version)
