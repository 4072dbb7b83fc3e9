"""Plain records of workspaces, files and audit events, as domain code and
servicers see them (rows stay in :mod:`control_plane.workspaces.store`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class AuditAction(enum.StrEnum):
    CREATE = "create"
    WRITE = "write"
    UPLOAD = "upload"
    RENAME = "rename"
    DELETE = "delete"
    SYNC = "sync"


@dataclass(frozen=True)
class WorkspaceRecord:
    id: str
    tenant_id: str
    name: str
    current_version: int
    size_bytes: int
    file_count: int
    labels: dict[str, str]
    created_at: datetime
    updated_at: datetime
    # The run that holds the workspace (see control_plane.workspaces.holds).
    held_by_run_id: str | None = None


@dataclass(frozen=True)
class FileInfo:
    """A file or directory of one workspace version."""

    path: str
    is_dir: bool
    size: int
    sha256: str
    mode: int
    modified_ns: int

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class AuditRecord:
    id: str
    tenant_id: str
    workspace_id: str
    version: int
    actor_key_id: str | None
    action: AuditAction
    path: str
    new_path: str | None
    old_sha256: str | None
    new_sha256: str | None
    size_bytes: int | None
    request_id: str | None
    run_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    """An audit row to write with a new version."""

    action: AuditAction
    path: str
    new_path: str | None = None
    old_sha256: str | None = None
    new_sha256: str | None = None
    size_bytes: int | None = None


@dataclass(frozen=True)
class ChangeResult:
    """What a file operation produced."""

    workspace: WorkspaceRecord
    version: int
    file: FileInfo | None = None
    audit: list[AuditEntry] = field(default_factory=list)
