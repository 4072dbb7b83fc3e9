"""Reading workspace versions: one directory's entries, one file's content."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import failed_precondition, not_found
from common.objectstore import ObjectStore
from common.objectstore.manifest import Manifest
from control_plane.auth import Caller
from control_plane.workspaces import store
from control_plane.workspaces.changes import file_info
from control_plane.workspaces.limits import WorkspaceLimits
from control_plane.workspaces.objects import blob_bytes, data_loss, load_manifest
from control_plane.workspaces.records import FileInfo

DIRECTORY_MODE = 0o755


@dataclass(frozen=True)
class FileContent:
    file: FileInfo
    content: bytes
    version: int


async def resolve_manifest(
    session: AsyncSession, objects: ObjectStore, caller: Caller, workspace_id: str, version: int
) -> Manifest:
    """The manifest of ``version`` (the current one when 0) of a caller's workspace."""
    workspace = await store.get_workspace(session, caller.tenant_id, workspace_id)
    wanted = version or workspace.current_version
    if wanted > workspace.current_version:
        raise not_found("workspace_version", f"{workspace_id}@{version}")
    return await load_manifest(session, objects, workspace_id, wanted)


def directory_entries(manifest: Manifest, directory: str) -> list[FileInfo]:
    """The files and subdirectories directly inside ``directory`` ("" is the
    root), by name. A directory's size is the total below it, its time the
    newest below it."""
    if directory and not manifest.is_dir(directory):
        if directory in manifest.files:
            raise failed_precondition("NOT_A_DIRECTORY", f"{directory!r} is a file", path=directory)
        raise not_found("directory", directory)
    prefix = f"{directory}/" if directory else ""
    files: dict[str, FileInfo] = {}
    dirs: dict[str, tuple[int, int]] = {}
    for path, meta in manifest.files.items():
        if not path.startswith(prefix):
            continue
        name, below, _ = path[len(prefix) :].partition("/")
        if below:
            size, newest = dirs.get(name, (0, 0))
            dirs[name] = (size + meta.size, max(newest, meta.mtime_ns))
        else:
            files[name] = file_info(path, meta)
    entries = list(files.values()) + [
        FileInfo(
            path=prefix + name,
            is_dir=True,
            size=size,
            sha256="",
            mode=DIRECTORY_MODE,
            modified_ns=newest,
        )
        for name, (size, newest) in dirs.items()
    ]
    return sorted(entries, key=lambda e: e.name)


async def list_files(
    session: AsyncSession,
    objects: ObjectStore,
    caller: Caller,
    workspace_id: str,
    *,
    directory: str,
    version: int,
) -> tuple[list[FileInfo], int]:
    manifest = await resolve_manifest(session, objects, caller, workspace_id, version)
    return directory_entries(manifest, directory), manifest.version


async def read_file(
    session: AsyncSession,
    objects: ObjectStore,
    caller: Caller,
    workspace_id: str,
    *,
    path: str,
    version: int,
    limits: WorkspaceLimits,
) -> FileContent:
    manifest = await resolve_manifest(session, objects, caller, workspace_id, version)
    meta = manifest.files.get(path)
    if meta is None:
        if manifest.is_dir(path):
            raise failed_precondition("IS_A_DIRECTORY", f"{path!r} is a directory", path=path)
        raise not_found("file", path)
    if meta.size > limits.max_read_bytes:
        raise failed_precondition(
            "FILE_TOO_LARGE_TO_READ",
            f"{path!r} has {meta.size} bytes; ReadFile returns at most {limits.max_read_bytes}",
            path=path,
            size=str(meta.size),
        )
    content = await blob_bytes(objects, meta.sha256, max_size=meta.size)
    if hashlib.sha256(content).hexdigest() != meta.sha256:
        raise data_loss(f"the stored content of {path!r} is corrupt", path=path)
    return FileContent(file_info(path, meta), content, manifest.version)
