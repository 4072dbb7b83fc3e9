"""Runs and workspaces: pinning the start version, recording synced versions."""

from __future__ import annotations

import hashlib

import grpc
import pytest
from sqlalchemy import func, select

from ccplane.v1 import events_pb2, workspaces_pb2_grpc
from ccplane.v1 import workspaces_pb2 as pb
from common.db import models
from common.db.engine import Database
from common.errors import ServiceError
from common.objectstore import ObjectStore
from common.objectstore.layout import blob_key, staged_manifest_key
from common.objectstore.manifest import FileMeta, Manifest
from control_plane.auth import DEFAULT_TENANT
from control_plane.workspaces.runs import claim_for_run, record_sync, record_synced_event, release_for_run
from executor.workspace import load_manifest
from tests.conftest import RunFactory
from tests.integration.workspaces.conftest import new_workspace

Stub = workspaces_pb2_grpc.WorkspaceServiceStub


async def workspace_at_v1(workspaces: Stub) -> str:
    ws = (await new_workspace(workspaces, name="runs")).id
    await workspaces.WriteFile(pb.WriteFileRequest(workspace_id=ws, path="a.txt", content=b"a"))
    return ws


async def stage(objects: ObjectStore, ws: str, run_id: str, base: Manifest, **files: bytes) -> Manifest:
    """What an executor's sync leaves in the store: blobs and a staged manifest."""
    metas = dict(base.files)
    for path, content in files.items():
        sha = hashlib.sha256(content).hexdigest()
        await objects.put_bytes(blob_key(sha), content)
        metas[path] = FileMeta(sha, len(content))
    staged = base.successor(metas)
    await objects.put_bytes(staged_manifest_key(ws, run_id, staged.version), staged.to_json())
    return staged


async def test_claim_pins_the_version_and_refuses_a_second_run(
    workspaces: Stub, database: Database, make_run: RunFactory
) -> None:
    ws = await workspace_at_v1(workspaces)
    first = await make_run("starting", workspace_id=ws, tenant_id=DEFAULT_TENANT)
    second = await make_run("queued", workspace_id=ws, tenant_id=DEFAULT_TENANT)
    async with database.session() as session, session.begin():
        assert await claim_for_run(session, run_id=first, workspace_id=ws) == 1
        # Claiming again (a restarted session of the same run) is fine.
        assert await claim_for_run(session, run_id=first, workspace_id=ws) == 1
    async with database.session() as session, session.begin():
        with pytest.raises(ServiceError) as caught:
            await claim_for_run(session, run_id=second, workspace_id=ws)
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.metadata["run_id"] == first
    async with database.session() as session:
        assert (await session.get_one(models.Workspace, ws)).locked_by_run_id == first
    async with database.session() as session, session.begin():
        await release_for_run(session, run_id=second, workspace_id=ws)  # not its pointer: no effect
        assert (await session.get_one(models.Workspace, ws)).locked_by_run_id == first
        await release_for_run(session, run_id=first, workspace_id=ws)
    async with database.session() as session:
        assert (await session.get_one(models.Workspace, ws)).locked_by_run_id is None


async def test_record_sync_is_idempotent_and_checks_what_it_records(
    workspaces: Stub, database: Database, objects: ObjectStore, make_run: RunFactory
) -> None:
    ws = await workspace_at_v1(workspaces)
    run_id = await make_run("running", workspace_id=ws, tenant_id=DEFAULT_TENANT)
    base = await load_manifest(objects, ws, 1)

    async def attempt(version: int) -> ServiceError:
        async with database.session() as session, session.begin():
            with pytest.raises(ServiceError) as caught:
                await record_sync(session, objects, run_id=run_id, workspace_id=ws, version=version)
        return caught.value

    assert (await attempt(2)).reason == "SYNC_MANIFEST_UNAVAILABLE", "nothing staged yet"
    staged = await stage(objects, ws, run_id, base, **{"b.txt": b"b"})
    assert (await attempt(3)).code == grpc.StatusCode.ABORTED, "not the next version"

    # A staged manifest whose blob never arrived is refused.
    missing = base.successor({**base.files, "c.txt": FileMeta("c" * 64, 1)})
    other_run = await make_run("succeeded", workspace_id=ws, tenant_id=DEFAULT_TENANT)
    await objects.put_bytes(staged_manifest_key(ws, other_run, 2), missing.to_json())
    async with database.session() as session, session.begin():
        with pytest.raises(ServiceError) as caught:
            await record_sync(session, objects, run_id=other_run, workspace_id=ws, version=2)
    assert caught.value.reason == "SYNC_BLOB_MISSING"

    async with database.session() as session, session.begin():
        recorded = await record_sync(session, objects, run_id=run_id, workspace_id=ws, version=2)
    assert (recorded.version, recorded.changed_paths, recorded.deleted_paths) == (2, ["b.txt"], [])
    async with database.session() as session, session.begin():
        again = await record_sync(session, objects, run_id=run_id, workspace_id=ws, version=2)
    assert again.already_recorded
    async with database.session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(models.FileAuditLog)
            .where(models.FileAuditLog.workspace_id == ws)
        )
        version_row = await session.get_one(models.WorkspaceVersion, (ws, 2))
    assert count == 3  # create, write, one sync
    assert (version_row.run_id, version_row.actor_key_id, version_row.parent_version) == (run_id, None, 1)
    assert await load_manifest(objects, ws, 2) == staged, "the staged manifest became version 2"

    # The other run's stale sync is now a conflict.
    async with database.session() as session, session.begin():
        with pytest.raises(ServiceError) as caught:
            await record_sync(session, objects, run_id=other_run, workspace_id=ws, version=2)
    assert caught.value.code == grpc.StatusCode.ABORTED


async def test_ingest_helper_turns_a_refusal_into_a_warning(
    workspaces: Stub, database: Database, objects: ObjectStore, make_run: RunFactory
) -> None:
    ws = await workspace_at_v1(workspaces)
    run_id = await make_run("running", workspace_id=ws, tenant_id=DEFAULT_TENANT)
    base = await load_manifest(objects, ws, 1)
    await stage(objects, ws, run_id, base, **{"z.txt": b"z"})

    def synced(version: int) -> events_pb2.RunEvent:
        return events_pb2.RunEvent(
            type="workspace.synced",
            turn_id="turn-9",
            workspace_synced=events_pb2.WorkspaceSynced(
                workspace_id=ws, version=version, changed_paths=["z.txt"]
            ),
        )

    async with database.session() as session, session.begin():
        warning = await record_synced_event(session, objects, run_id, synced(5))
        # The savepoint rolled back only the refused sync; the batch goes on.
        assert warning is not None and warning.type == "warning"
        assert warning.warning.reason == "WORKSPACE_VERSION_MISMATCH"
        assert warning.turn_id == "turn-9"
        assert await record_synced_event(session, objects, run_id, synced(2)) is None
    async with database.session() as session:
        assert (await session.get_one(models.Workspace, ws)).current_version == 2
