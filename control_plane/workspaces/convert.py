"""Conversions from workspace records to their protobuf messages."""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from ccplane.v1 import workspaces_pb2
from control_plane.workspaces.records import AuditAction, AuditRecord, FileInfo, WorkspaceRecord

_ACTIONS = {
    AuditAction.CREATE: workspaces_pb2.AUDIT_ACTION_CREATE,
    AuditAction.WRITE: workspaces_pb2.AUDIT_ACTION_WRITE,
    AuditAction.UPLOAD: workspaces_pb2.AUDIT_ACTION_UPLOAD,
    AuditAction.RENAME: workspaces_pb2.AUDIT_ACTION_RENAME,
    AuditAction.DELETE: workspaces_pb2.AUDIT_ACTION_DELETE,
    AuditAction.SYNC: workspaces_pb2.AUDIT_ACTION_SYNC,
}


def workspace_to_proto(workspace: WorkspaceRecord) -> workspaces_pb2.Workspace:
    message = workspaces_pb2.Workspace(
        id=workspace.id,
        name=workspace.name,
        current_version=workspace.current_version,
        size_bytes=workspace.size_bytes,
        file_count=workspace.file_count,
        labels=workspace.labels,
        locked_by_run_id=workspace.held_by_run_id or "",
    )
    message.created_at.FromDatetime(workspace.created_at)
    message.updated_at.FromDatetime(workspace.updated_at)
    return message


def file_to_proto(info: FileInfo) -> workspaces_pb2.FileEntry:
    modified = timestamp_pb2.Timestamp()
    modified.FromNanoseconds(info.modified_ns)
    return workspaces_pb2.FileEntry(
        name=info.name,
        path=info.path,
        type=workspaces_pb2.FILE_TYPE_DIRECTORY if info.is_dir else workspaces_pb2.FILE_TYPE_FILE,
        size=info.size,
        sha256=info.sha256,
        modified=modified,
        mode=info.mode,
    )


def audit_to_proto(record: AuditRecord) -> workspaces_pb2.AuditEvent:
    message = workspaces_pb2.AuditEvent(
        id=record.id,
        workspace_id=record.workspace_id,
        tenant_id=record.tenant_id,
        actor_key_id=record.actor_key_id or "",
        action=_ACTIONS[record.action],
        path=record.path,
        new_path=record.new_path or "",
        old_sha256=record.old_sha256 or "",
        new_sha256=record.new_sha256 or "",
        size=record.size_bytes or 0,
        request_id=record.request_id or "",
        version=record.version,
        run_id=record.run_id or "",
    )
    message.time.FromDatetime(record.created_at)
    return message
