"""File operations: each one a new version plus its audit rows.

:func:`apply_change` is the one path by which a person changes workspace
files. In one transaction it locks the workspace row, honours an earlier
request with the same ``request_id`` (AIP-155), refuses while a run holds
the workspace (FAILED_PRECONDITION naming the run) or when
``expected_version`` is stale (ABORTED naming the current version), derives
the next manifest, writes it, and records the version and audit rows. New
file content was stored as a blob before the transaction began.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from common import ids
from common.errors import (
    ServiceError,
    aborted,
    already_exists,
    failed_precondition,
    invalid_argument,
    not_found,
    resource_exhausted,
)
from common.objectstore import ObjectStore
from common.objectstore.manifest import FileMeta, Manifest
from common.objectstore.paths import is_within, parent_dirs
from control_plane.auth import Caller
from control_plane.workspaces import store
from control_plane.workspaces.limits import WorkspaceLimits
from control_plane.workspaces.objects import Blob, load_manifest, write_manifest
from control_plane.workspaces.records import (
    AuditAction,
    AuditEntry,
    ChangeResult,
    FileInfo,
    WorkspaceRecord,
)


@dataclass(frozen=True)
class RequestKey:
    """An AIP-155 request id with the fingerprint of its request."""

    scope: str
    request_id: str
    fingerprint: str


class Change(Protocol):
    def apply(self, files: dict[str, FileMeta], now_ns: int) -> tuple[list[AuditEntry], str | None]:
        """Change ``files`` in place; returns the audit entries and the path
        of the file the operation leaves (None when it leaves none)."""
        ...

    @property
    def result_path(self) -> str | None: ...


@dataclass(frozen=True)
class PutFile:
    """Write or upload one file's content."""

    path: str
    blob: Blob
    mode: int
    action: AuditAction

    @property
    def result_path(self) -> str:
        return self.path

    def apply(self, files: dict[str, FileMeta], now_ns: int) -> tuple[list[AuditEntry], str | None]:
        _check_free_for_file(files, self.path, "path")
        old = files.get(self.path)
        files[self.path] = FileMeta(self.blob.sha256, self.blob.size, self.mode, now_ns)
        entry = AuditEntry(
            self.action,
            self.path,
            old_sha256=old.sha256 if old else None,
            new_sha256=self.blob.sha256,
            size_bytes=self.blob.size,
        )
        return [entry], self.path


@dataclass(frozen=True)
class RenamePath:
    """Rename a file, or a directory with everything below it."""

    path: str
    new_path: str

    @property
    def result_path(self) -> str:
        return self.new_path

    def apply(self, files: dict[str, FileMeta], now_ns: int) -> tuple[list[AuditEntry], str | None]:
        moving = _paths_at(files, self.path)
        if self.new_path == self.path or is_within(self.new_path, self.path):
            raise invalid_argument("new_path", "must not be the path itself or inside it")
        if self.new_path in files or any(p.startswith(self.new_path + "/") for p in files):
            raise already_exists("PATH_EXISTS", f"{self.new_path!r} already exists", path=self.new_path)
        _check_free_for_file(files, self.new_path, "new_path")
        audit = []
        for old_path in moving:
            target = self.new_path + old_path[len(self.path) :]
            meta = files.pop(old_path)
            files[target] = meta
            audit.append(
                AuditEntry(
                    AuditAction.RENAME,
                    old_path,
                    new_path=target,
                    old_sha256=meta.sha256,
                    new_sha256=meta.sha256,
                    size_bytes=meta.size,
                )
            )
        return audit, self.new_path if self.new_path in files else None


@dataclass(frozen=True)
class DeletePath:
    """Delete a file, or a directory with everything below it."""

    path: str

    @property
    def result_path(self) -> None:
        return None

    def apply(self, files: dict[str, FileMeta], now_ns: int) -> tuple[list[AuditEntry], str | None]:
        audit = []
        for path in _paths_at(files, self.path):
            meta = files.pop(path)
            audit.append(AuditEntry(AuditAction.DELETE, path, old_sha256=meta.sha256, size_bytes=meta.size))
        return audit, None


def _paths_at(files: dict[str, FileMeta], path: str) -> list[str]:
    """The file ``path`` or the files of directory ``path``; NOT_FOUND if none."""
    if path in files:
        return [path]
    below = sorted(p for p in files if p.startswith(path + "/"))
    if not below:
        raise not_found("file", path)
    return below


def _check_free_for_file(files: dict[str, FileMeta], path: str, field: str) -> None:
    if any(p.startswith(path + "/") for p in files):
        raise failed_precondition("PATH_IS_DIRECTORY", f"{field} {path!r} is a directory", path=path)
    for directory in parent_dirs(path):
        if directory in files:
            raise failed_precondition(
                "PARENT_IS_FILE",
                f"{field} {path!r}: {directory!r} is a file, not a directory",
                path=directory,
            )


def check_limits(files: dict[str, FileMeta], limits: WorkspaceLimits) -> None:
    if len(files) > limits.max_files:
        raise _exhausted(
            "TOO_MANY_FILES", f"a workspace holds at most {limits.max_files} files", limits.max_files
        )
    total = sum(meta.size for meta in files.values())
    if total > limits.max_workspace_bytes:
        raise _exhausted(
            "WORKSPACE_TOO_LARGE",
            f"the workspace would hold {total} bytes; at most {limits.max_workspace_bytes} are allowed",
            limits.max_workspace_bytes,
        )


def _exhausted(reason: str, message: str, limit: int) -> ServiceError:
    return resource_exhausted(reason, message, limit=str(limit))


def ensure_not_held(workspace: WorkspaceRecord) -> None:
    if workspace.held_by_run_id:
        raise failed_precondition(
            "WORKSPACE_HELD_BY_RUN",
            f"workspace {workspace.id} is in use by run {workspace.held_by_run_id}; "
            "its files can be changed when the run ends",
            run_id=workspace.held_by_run_id,
            workspace_id=workspace.id,
        )


def ensure_expected_version(workspace: WorkspaceRecord, expected_version: int) -> None:
    if expected_version and expected_version != workspace.current_version:
        raise aborted(
            "WORKSPACE_VERSION_MISMATCH",
            f"workspace {workspace.id} is at version {workspace.current_version}, "
            f"not the expected version {expected_version}; re-read and retry",
            current_version=str(workspace.current_version),
            expected_version=str(expected_version),
        )


def file_info(path: str, meta: FileMeta) -> FileInfo:
    return FileInfo(
        path=path, is_dir=False, size=meta.size, sha256=meta.sha256, mode=meta.mode, modified_ns=meta.mtime_ns
    )


async def apply_change(
    session: AsyncSession,
    objects: ObjectStore,
    caller: Caller,
    workspace_id: str,
    change: Change,
    *,
    expected_version: int = 0,
    request: RequestKey | None = None,
    limits: WorkspaceLimits,
) -> ChangeResult:
    """Apply ``change`` as a new version. Call inside a transaction."""
    workspace = await store.get_workspace(session, caller.tenant_id, workspace_id, for_update=True)
    next_version = workspace.current_version + 1
    if request is not None:
        earlier = await store.claim_request(
            session,
            caller.tenant_id,
            scope=request.scope,
            request_id=request.request_id,
            request_hash=request.fingerprint,
            resource_id=f"{workspace_id}@{next_version}",
        )
        if earlier is not None:
            return await _replay(session, objects, workspace, earlier, change.result_path)
    ensure_not_held(workspace)
    ensure_expected_version(workspace, expected_version)
    base = await load_manifest(session, objects, workspace.id, workspace.current_version)
    files = dict(base.files)
    audit, result_path = change.apply(files, time.time_ns())
    check_limits(files, limits)
    manifest = base.successor(files)
    key = await write_manifest(objects, manifest)
    updated = await store.record_version(
        session,
        workspace,
        manifest,
        key,
        audit,
        actor_key_id=caller.key_id,
        request_id=request.request_id if request else None,
    )
    result_file = file_info(result_path, manifest.files[result_path]) if result_path else None
    return ChangeResult(updated, manifest.version, result_file, audit)


async def _replay(
    session: AsyncSession,
    objects: ObjectStore,
    workspace: WorkspaceRecord,
    resource: str,
    result_path: str | None,
) -> ChangeResult:
    """The answer to a request already served: the version it created."""
    workspace_id, _, raw_version = resource.rpartition("@")
    version = int(raw_version)
    if workspace_id != workspace.id:
        raise already_exists(
            "REQUEST_ID_REUSED", "request_id was already used for another workspace", resource=resource
        )
    manifest = await load_manifest(session, objects, workspace.id, version)
    meta = manifest.files.get(result_path) if result_path else None
    return ChangeResult(workspace, version, file_info(result_path, meta) if result_path and meta else None)


async def create_workspace(
    session: AsyncSession,
    objects: ObjectStore,
    caller: Caller,
    *,
    name: str,
    labels: dict[str, str],
    files: dict[str, FileMeta],
    request: RequestKey | None = None,
) -> WorkspaceRecord:
    """A new workspace: version 0 when empty, else version 1 holding ``files``
    (whose blobs are already stored). Call inside a transaction."""
    workspace_id = ids.new_id(ids.WORKSPACE)
    if request is not None:
        earlier = await store.claim_request(
            session,
            caller.tenant_id,
            scope=request.scope,
            request_id=request.request_id,
            request_hash=request.fingerprint,
            resource_id=workspace_id,
        )
        if earlier is not None:
            return await store.get_workspace(session, caller.tenant_id, earlier)
    workspace = await store.create_workspace(
        session, caller.tenant_id, name or workspace_id, labels, workspace_id
    )
    request_id = request.request_id if request else None
    if not files:
        await store.insert_audit(
            session,
            workspace,
            0,
            [AuditEntry(AuditAction.CREATE, "")],
            actor_key_id=caller.key_id,
            request_id=request_id,
        )
        return workspace
    manifest = Manifest.empty(workspace_id).successor(files)
    key = await write_manifest(objects, manifest)
    audit = [
        AuditEntry(AuditAction.CREATE, path, new_sha256=meta.sha256, size_bytes=meta.size)
        for path, meta in manifest.files.items()
    ]
    return await store.record_version(
        session, workspace, manifest, key, audit, actor_key_id=caller.key_id, request_id=request_id
    )
