"""Two executors sharing a workspace through the object store: restore,
change, sync, record, restore elsewhere — on the local store and on S3."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from ccplane.v1 import workspaces_pb2 as pb
from common.db import models
from common.db.engine import Database
from common.objectstore import ObjectStore
from control_plane.auth import DEFAULT_TENANT
from control_plane.workspaces.runs import record_sync
from executor.workspace import WorkspaceSession, load_manifest, restore, sync
from executor.workspace.fs import UnsafePathError
from tests.conftest import RunFactory
from tests.integration.workspaces.conftest import serve_workspaces


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every regular file below ``root``: content and permission bits."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            mode = path.lstat().st_mode
            if stat.S_ISREG(mode):
                out[path.relative_to(root).as_posix()] = (path.read_bytes(), stat.S_IMODE(mode))
    return out


async def seeded_workspace(database: Database, store: ObjectStore) -> str:
    async with serve_workspaces(database, store) as stub:
        ws = (await stub.CreateWorkspace(pb.CreateWorkspaceRequest(name="shared"))).workspace.id
        for path, content, mode in (
            ("README.md", b"# shared\n", 0),
            ("src/main.py", b"print('v1')\n", 0),
            ("src/util.py", b"def util(): ...\n", 0),
            ("bin/run.sh", b"#!/bin/sh\n", 0o755),
            ("docs/same.txt", b"same bytes\n", 0),
            ("docs/copy.txt", b"same bytes\n", 0),
        ):
            await stub.WriteFile(pb.WriteFileRequest(workspace_id=ws, path=path, content=content, mode=mode))
    return ws


async def record(database: Database, store: ObjectStore, run_id: str, ws: str, version: int) -> None:
    async with database.session() as session, session.begin():
        await record_sync(session, store, run_id=run_id, workspace_id=ws, version=version)


async def test_two_executors_share_a_workspace(
    any_store: ObjectStore, database: Database, make_run: RunFactory, tmp_path: Path
) -> None:
    store = any_store
    ws = await seeded_workspace(database, store)
    run_id = await make_run("running", workspace_id=ws, tenant_id=DEFAULT_TENANT)
    a_dir, a_cache = tmp_path / "a" / "ws", tmp_path / "a" / "cache"
    b_dir, b_cache = tmp_path / "b" / "ws", tmp_path / "b" / "cache"

    # Executor A restores version 6 from an empty disk.
    a = await WorkspaceSession.open(
        store, workspace_id=ws, version=6, run_id=run_id, workspace_dir=a_dir, cache_dir=a_cache
    )
    assert a.restored is not None
    assert len(a.restored.fetched) == 5, "two files share a blob"
    assert tree(a_dir)["bin/run.sh"] == (b"#!/bin/sh\n", 0o755)
    assert tree(a_dir)["src/main.py"] == (b"print('v1')\n", 0o644)

    # Nothing changed: nothing to sync.
    unchanged, events = await a.sync()
    assert not unchanged.changed and events == []

    # The agent edits, adds, deletes, chmods, and leaves a symlink and a FIFO.
    (a_dir / "src/main.py").write_bytes(b"print('v2')\n")
    (a_dir / "src/new.py").write_bytes(b"NEW = 1\n")
    (a_dir / "src/util.py").unlink()
    (a_dir / "README.md").chmod(0o600)
    (a_dir / "escape").symlink_to("/etc/passwd")
    os.mkfifo(a_dir / "pipe")
    result, events = await a.sync(turn_id="turn-1")
    assert result.changed
    assert result.changed_paths == ["README.md", "src/main.py", "src/new.py"]
    assert result.deleted_paths == ["src/util.py"]
    assert set(result.skipped) == {"escape", "pipe"}
    assert len(result.uploaded) == 2, "only new content is uploaded (README.md changed mode only)"
    assert result.staged_key == f"staged/{ws}/{run_id}/7.json"
    assert [e.type for e in events] == ["warning", "workspace.synced"]
    synced = events[1].workspace_synced
    assert (synced.workspace_id, synced.version, list(synced.deleted_paths)) == (ws, 7, ["src/util.py"])

    # The control plane records version 7 when it ingests the event.
    await record(database, store, run_id, ws, 7)
    async with database.session() as session:
        workspace = await session.get_one(models.Workspace, ws)
        audit = (
            await session.execute(
                select(models.FileAuditLog.action, models.FileAuditLog.path, models.FileAuditLog.run_id)
                .where(models.FileAuditLog.workspace_id == ws, models.FileAuditLog.version == 7)
                .order_by(models.FileAuditLog.path)
            )
        ).all()
    assert (workspace.current_version, workspace.file_count) == (7, 6)
    assert [(a_, p, r) for a_, p, r in audit] == [
        ("sync", "README.md", run_id),
        ("sync", "src/main.py", run_id),
        ("sync", "src/new.py", run_id),
        ("sync", "src/util.py", run_id),
    ]

    # Executor B, with an empty disk, restores version 7: the same tree.
    b = await WorkspaceSession.open(
        store, workspace_id=ws, version=7, run_id=run_id, workspace_dir=b_dir, cache_dir=b_cache
    )
    assert tree(b_dir) == tree(a_dir)
    assert (b_dir / "README.md").stat().st_mtime_ns == (a_dir / "README.md").stat().st_mtime_ns

    # B changes a file and syncs version 8; A catches up fetching only that blob.
    (b_dir / "docs/copy.txt").write_bytes(b"diverged\n")
    result, _ = await b.sync()
    assert (result.manifest.version, result.changed_paths) == (8, ["docs/copy.txt"])
    await record(database, store, run_id, ws, 8)
    again = await restore(store, await load_manifest(store, ws, 8), a_dir, a_cache)
    assert again.written == ["docs/copy.txt"]
    assert len(again.fetched) == 1
    assert sorted(again.removed) == ["escape", "pipe"], "what the manifest lacks is removed"
    assert tree(a_dir) == tree(b_dir)

    # A fresh directory on A needs no download at all: the cache has everything.
    fresh = await restore(store, await load_manifest(store, ws, 8), tmp_path / "a" / "second", a_cache)
    assert fresh.fetched == []
    assert tree(tmp_path / "a" / "second") == tree(b_dir)


async def test_restore_never_writes_through_symlinks(
    database: Database, objects: ObjectStore, make_run: RunFactory, tmp_path: Path
) -> None:
    ws = await seeded_workspace(database, objects)
    manifest = await load_manifest(objects, ws, 6)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("do not touch")
    work = tmp_path / "ws"
    work.mkdir()
    # What an agent could leave behind in a reused directory.
    (work / "src").symlink_to(outside)
    (work / "README.md").symlink_to(outside / "secret")
    (work / "docs").write_text("a file where a directory belongs")
    (work / "bin").mkdir()
    (work / "bin" / "run.sh").mkdir()  # a directory where a file belongs

    await restore(objects, manifest, work, tmp_path / "cache")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_text() == "do not touch"
    assert not (work / "src").is_symlink() and (work / "src").is_dir()
    assert not (work / "README.md").is_symlink()
    assert (work / "README.md").read_bytes() == b"# shared\n"
    assert (work / "bin" / "run.sh").read_bytes() == b"#!/bin/sh\n"
    assert tree(work)["docs/copy.txt"] == (b"same bytes\n", 0o644)

    linked_root = tmp_path / "linked-root"
    linked_root.symlink_to(outside)
    with pytest.raises(UnsafePathError):
        await restore(objects, manifest, linked_root, tmp_path / "cache")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]


async def test_sync_never_reads_through_symlinks(
    database: Database, objects: ObjectStore, tmp_path: Path
) -> None:
    ws = await seeded_workspace(database, objects)
    manifest = await load_manifest(objects, ws, 6)
    work = tmp_path / "ws"
    await restore(objects, manifest, work, tmp_path / "cache")
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "private.key").write_text("secret")
    (work / "data").symlink_to(outside)
    (work / "src" / "key").symlink_to(outside / "deep" / "private.key")
    (work / "bad\\name").write_text("x")

    result = await sync(objects, work, manifest, run_id="run_x", cache_dir=tmp_path / "cache")
    assert not result.changed
    assert set(result.skipped) == {"data", "src/key", "bad\\name"}
    assert "symbolic" in result.skipped["data"]
    assert "backslash" in result.skipped["bad\\name"]
