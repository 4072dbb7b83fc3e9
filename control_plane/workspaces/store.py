"""Workspace rows: workspaces, versions, audit log, idempotency keys.

Rows stay here; callers get records. Every function runs inside the
caller's transaction. A workspace of another tenant is NOT_FOUND, exactly
like a missing one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from common import ids
from common.db import models
from common.errors import already_exists, not_found
from common.objectstore.manifest import Manifest
from common.paging import decode_token, encode_token
from control_plane.workspaces.records import AuditAction, AuditEntry, AuditRecord, WorkspaceRecord

# Runs in these statuses hold their workspace: its files change only through
# the run's syncs until the run ends. ``lost`` is included because a lost
# run's executor may still be working and come back.
HOLDING_STATUSES = ("starting", "running", "waiting_human", "lost")


def _record(row: models.Workspace, held_by: str | None) -> WorkspaceRecord:
    return WorkspaceRecord(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        current_version=row.current_version,
        size_bytes=row.size_bytes,
        file_count=row.file_count,
        labels={str(k): str(v) for k, v in (row.labels or {}).items()},
        created_at=row.created_at,
        updated_at=row.updated_at,
        held_by_run_id=held_by,
    )


async def holders(session: AsyncSession, workspace_ids: Sequence[str]) -> dict[str, str]:
    """The run holding each workspace that one holds (the oldest, if several)."""
    if not workspace_ids:
        return {}
    rows = await session.execute(
        select(models.AgentRun.workspace_id, models.AgentRun.id)
        .where(
            models.AgentRun.workspace_id.in_(list(workspace_ids)),
            models.AgentRun.status.in_(HOLDING_STATUSES),
        )
        .order_by(models.AgentRun.id)
    )
    found: dict[str, str] = {}
    for workspace_id, run_id in rows:
        if workspace_id is not None:
            found.setdefault(workspace_id, run_id)
    return found


async def holding_run(session: AsyncSession, workspace_id: str) -> tuple[str, str] | None:
    """(run id, status) of the run holding the workspace, if any."""
    row = (
        await session.execute(
            select(models.AgentRun.id, models.AgentRun.status)
            .where(
                models.AgentRun.workspace_id == workspace_id,
                models.AgentRun.status.in_(HOLDING_STATUSES),
            )
            .order_by(models.AgentRun.id)
            .limit(1)
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


async def get_workspace(
    session: AsyncSession, tenant_id: str | None, workspace_id: str, *, for_update: bool = False
) -> WorkspaceRecord:
    """The workspace; ``tenant_id=None`` only for internal callers (run syncs)."""
    stmt = select(models.Workspace).where(models.Workspace.id == workspace_id)
    if tenant_id is not None:
        stmt = stmt.where(models.Workspace.tenant_id == tenant_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise not_found("workspace", workspace_id)
    holder = await holding_run(session, workspace_id)
    return _record(row, holder[0] if holder else None)


async def create_workspace(
    session: AsyncSession, tenant_id: str, name: str, labels: dict[str, str], workspace_id: str
) -> WorkspaceRecord:
    session.add(models.Workspace(id=workspace_id, tenant_id=tenant_id, name=name, labels=labels))
    await session.flush()
    row = await session.get_one(models.Workspace, workspace_id, populate_existing=True)
    return _record(row, None)


async def list_workspaces(
    session: AsyncSession, tenant_id: str, *, page_size: int, page_token: str
) -> tuple[list[WorkspaceRecord], str]:
    """Workspaces newest first (ids are ULIDs); returns (page, next_page_token)."""
    cursor = decode_token(page_token, ["workspaces"], key_length=1)
    stmt = select(models.Workspace).where(models.Workspace.tenant_id == tenant_id)
    if cursor is not None:
        stmt = stmt.where(models.Workspace.id < str(cursor.key[0]))
    rows = (
        (await session.execute(stmt.order_by(models.Workspace.id.desc()).limit(page_size + 1)))
        .scalars()
        .all()
    )
    page = rows[:page_size]
    held = await holders(session, [r.id for r in page])
    token = encode_token([page[-1].id], ["workspaces"]) if len(rows) > page_size else ""
    return [_record(r, held.get(r.id)) for r in page], token


async def manifest_key(session: AsyncSession, workspace_id: str, version: int) -> str | None:
    """The manifest key of a recorded version; None for version 0."""
    if version == 0:
        return None
    key = await session.scalar(
        select(models.WorkspaceVersion.manifest_key).where(
            models.WorkspaceVersion.workspace_id == workspace_id,
            models.WorkspaceVersion.version == version,
        )
    )
    if key is None:
        raise not_found("workspace_version", f"{workspace_id}@{version}")
    return key


async def version_run_id(session: AsyncSession, workspace_id: str, version: int) -> tuple[bool, str | None]:
    """(exists, run id) of a recorded version."""
    row = (
        await session.execute(
            select(models.WorkspaceVersion.run_id).where(
                models.WorkspaceVersion.workspace_id == workspace_id,
                models.WorkspaceVersion.version == version,
            )
        )
    ).first()
    return (row is not None, row[0] if row is not None else None)


async def record_version(
    session: AsyncSession,
    workspace: WorkspaceRecord,
    manifest: Manifest,
    key: str,
    audit: Sequence[AuditEntry],
    *,
    actor_key_id: str | None,
    run_id: str | None = None,
    request_id: str | None = None,
) -> WorkspaceRecord:
    """Insert the version row and its audit rows and make it current.

    The caller holds the workspace row lock and has checked that
    ``manifest.version`` is the next one.
    """
    session.add(
        models.WorkspaceVersion(
            workspace_id=workspace.id,
            version=manifest.version,
            manifest_key=key,
            parent_version=manifest.parent_version,
            run_id=run_id,
            actor_key_id=actor_key_id or None,
            size_bytes=manifest.size_bytes,
            file_count=manifest.file_count,
        )
    )
    await session.flush()
    await insert_audit(
        session,
        workspace,
        manifest.version,
        audit,
        actor_key_id=actor_key_id,
        run_id=run_id,
        request_id=request_id,
    )
    await session.execute(
        update(models.Workspace)
        .where(models.Workspace.id == workspace.id)
        .values(
            current_version=manifest.version,
            size_bytes=manifest.size_bytes,
            file_count=manifest.file_count,
            updated_at=func.now(),
        )
    )
    row = await session.get_one(models.Workspace, workspace.id, populate_existing=True)
    return _record(row, workspace.held_by_run_id)


async def insert_audit(
    session: AsyncSession,
    workspace: WorkspaceRecord,
    version: int,
    audit: Sequence[AuditEntry],
    *,
    actor_key_id: str | None,
    run_id: str | None = None,
    request_id: str | None = None,
) -> None:
    if not audit:
        return
    values: list[dict[str, Any]] = [
        {
            "id": ids.new_id(ids.AUDIT),
            "tenant_id": workspace.tenant_id,
            "workspace_id": workspace.id,
            "version": version,
            "actor_key_id": actor_key_id or None,
            "action": entry.action.value,
            "path": entry.path,
            "new_path": entry.new_path,
            "old_sha256": entry.old_sha256,
            "new_sha256": entry.new_sha256,
            "size_bytes": entry.size_bytes,
            "request_id": request_id or None,
            "run_id": run_id,
        }
        for entry in audit
    ]
    await session.execute(insert(models.FileAuditLog), values)


async def claim_request(
    session: AsyncSession, tenant_id: str, *, scope: str, request_id: str, request_hash: str, resource_id: str
) -> str | None:
    """Claim an AIP-155 request id; returns None when claimed now, else the
    resource the earlier request produced (ALREADY_EXISTS when the earlier
    request was a different one)."""
    claimed = await session.execute(
        pg_insert(models.IdempotencyKey)
        .values(
            tenant_id=tenant_id,
            scope=scope,
            request_id=request_id,
            request_hash=request_hash,
            resource_id=resource_id,
        )
        .on_conflict_do_nothing()
        .returning(models.IdempotencyKey.resource_id)
    )
    if claimed.scalar_one_or_none() is not None:
        return None
    key = await session.get_one(models.IdempotencyKey, (tenant_id, scope, request_id))
    if key.request_hash != request_hash:
        raise already_exists(
            "REQUEST_ID_REUSED",
            f"request_id {request_id!r} was already used for a different request",
            resource=key.resource_id,
        )
    return key.resource_id


async def list_audit(
    session: AsyncSession,
    tenant_id: str,
    workspace_id: str,
    *,
    page_size: int,
    page_token: str,
    path: str = "",
    actor: str = "",
) -> tuple[list[AuditRecord], str]:
    """Audit events newest first (by version, then id); returns (page, next token)."""
    await get_workspace(session, tenant_id, workspace_id)
    filters = [workspace_id, path, actor]
    cursor = decode_token(page_token, filters, key_length=2)
    row = models.FileAuditLog
    stmt = select(row).where(row.workspace_id == workspace_id, row.tenant_id == tenant_id)
    if path:
        stmt = stmt.where(or_(row.path == path, row.new_path == path))
    if actor:
        stmt = stmt.where(row.actor_key_id == actor)
    if cursor is not None:
        last_version, last_id = int(cursor.key[0]), str(cursor.key[1])
        stmt = stmt.where(or_(row.version < last_version, (row.version == last_version) & (row.id < last_id)))
    rows = (
        (await session.execute(stmt.order_by(row.version.desc(), row.id.desc()).limit(page_size + 1)))
        .scalars()
        .all()
    )
    page = [_audit(r) for r in rows[:page_size]]
    token = encode_token([page[-1].version, page[-1].id], filters) if len(rows) > page_size else ""
    return page, token


def _audit(row: models.FileAuditLog) -> AuditRecord:
    return AuditRecord(
        id=row.id,
        tenant_id=row.tenant_id,
        workspace_id=row.workspace_id,
        version=row.version,
        actor_key_id=row.actor_key_id,
        action=AuditAction(row.action),
        path=row.path,
        new_path=row.new_path,
        old_sha256=row.old_sha256,
        new_sha256=row.new_sha256,
        size_bytes=row.size_bytes,
        request_id=row.request_id,
        run_id=row.run_id,
        created_at=row.created_at,
    )
