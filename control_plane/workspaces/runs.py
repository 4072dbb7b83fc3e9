"""Workspaces and runs: holding a workspace, recording a run's syncs.

Which run holds a workspace is decided by ``agent_runs`` alone: any run on
it in a status of ``store.HOLDING_STATUSES`` (starting, running,
waiting_human, lost). That follows the run state machine without extra
bookkeeping, so a crashed control plane can never leave a workspace locked.
``workspaces.locked_by_run_id`` is only a denormalised pointer for people
reading the table: :func:`claim_for_run` sets it and :func:`release_for_run`
clears it; nothing decides anything by it.

The executor uploads a run's changed blobs and a *staged* manifest
(``staged/<ws>/<run>/<version>.json``) and reports
``workspace.synced{workspace_id, version, ...}``. On ingesting that event
the control plane calls :func:`record_synced_event`, which validates the
staged manifest against the current version, copies it to the canonical
key and records the version with one SYNC audit row per changed or deleted
path — in the ingest transaction, so the event and the version commit
together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ccplane.v1 import events_pb2
from common.db import models
from common.errors import ServiceError, aborted, failed_precondition, not_found
from common.objectstore import ObjectStore
from common.objectstore.layout import blob_key, staged_manifest_key
from control_plane.workspaces import store
from control_plane.workspaces.changes import check_limits
from control_plane.workspaces.limits import WorkspaceLimits
from control_plane.workspaces.objects import load_manifest, read_manifest, store_errors, write_manifest
from control_plane.workspaces.records import AuditAction, AuditEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordedSync:
    workspace_id: str
    version: int
    changed_paths: list[str]
    deleted_paths: list[str]
    # True when this sync had been recorded before (an event ingested twice).
    already_recorded: bool = False


async def claim_for_run(session: AsyncSession, *, run_id: str, workspace_id: str) -> int:
    """Pin the version a run starts from; returns it.

    Call in the transaction that moves the run to ``starting`` and store the
    result in ``agent_runs.workspace_version``. The workspace row lock
    serialises this with file operations: either an operation commits first
    (and the run starts from its version) or the run's status commits first
    (and the operation is refused). Raises FAILED_PRECONDITION when another
    run holds the workspace.
    """
    row = (
        await session.execute(
            select(models.Workspace)
            .where(models.Workspace.id == workspace_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if row is None:
        raise not_found("workspace", workspace_id)
    holders = await session.execute(
        select(models.AgentRun.id).where(
            models.AgentRun.workspace_id == workspace_id,
            models.AgentRun.status.in_(store.HOLDING_STATUSES),
            models.AgentRun.id != run_id,
        )
    )
    other = holders.scalars().first()
    if other is not None:
        raise failed_precondition(
            "WORKSPACE_HELD_BY_RUN",
            f"workspace {workspace_id} is in use by run {other}",
            run_id=other,
            workspace_id=workspace_id,
        )
    row.locked_by_run_id = run_id
    return row.current_version


async def release_for_run(session: AsyncSession, *, run_id: str, workspace_id: str) -> None:
    """Clear the informational lock pointer when the run reaches a final status."""
    await session.execute(
        update(models.Workspace)
        .where(models.Workspace.id == workspace_id, models.Workspace.locked_by_run_id == run_id)
        .values(locked_by_run_id=None)
    )


async def record_sync(
    session: AsyncSession,
    objects: ObjectStore,
    *,
    run_id: str,
    workspace_id: str,
    version: int,
    limits: WorkspaceLimits | None = None,
) -> RecordedSync:
    """Record the version a run's executor staged. Call inside a transaction.

    Idempotent for the same (run, version). ABORTED when the workspace moved
    on meanwhile (the staged manifest's parent is not the current version);
    FAILED_PRECONDITION when the staged manifest or one of its new blobs is
    missing, or the run is not on this workspace.
    """
    run = (
        await session.execute(
            select(models.AgentRun.tenant_id, models.AgentRun.workspace_id).where(
                models.AgentRun.id == run_id
            )
        )
    ).first()
    if run is None:
        raise not_found("run", run_id)
    if run.workspace_id != workspace_id:
        raise failed_precondition(
            "SYNC_FOR_OTHER_WORKSPACE",
            f"run {run_id} does not work on workspace {workspace_id}",
            run_id=run_id,
        )
    workspace = await store.get_workspace(session, run.tenant_id, workspace_id, for_update=True)
    exists, recorded_by = await store.version_run_id(session, workspace_id, version)
    if exists:
        if recorded_by == run_id:
            return RecordedSync(workspace_id, version, [], [], already_recorded=True)
        raise _moved_on(workspace_id, version, workspace.current_version)
    if version != workspace.current_version + 1:
        raise _moved_on(workspace_id, version, workspace.current_version)

    staged_key = staged_manifest_key(workspace_id, run_id, version)
    try:
        staged = await read_manifest(objects, staged_key, workspace_id, version)
    except ServiceError as exc:
        raise failed_precondition(
            "SYNC_MANIFEST_UNAVAILABLE", f"the staged manifest {staged_key!r} cannot be used: {exc.message}"
        ) from exc
    if staged.parent_version != workspace.current_version:
        raise _moved_on(workspace_id, version, workspace.current_version)
    check_limits(dict(staged.files), limits or WorkspaceLimits())
    base = await load_manifest(session, objects, workspace_id, workspace.current_version)
    changed, deleted = base.diff(staged)
    with store_errors("checking synced content"):
        for path in changed:
            if not await objects.exists(blob_key(staged.files[path].sha256)):
                raise failed_precondition(
                    "SYNC_BLOB_MISSING", f"the content of {path!r} was not uploaded", path=path
                )
    key = await write_manifest(objects, staged)
    audit = [
        AuditEntry(
            AuditAction.SYNC,
            path,
            old_sha256=base.files[path].sha256 if path in base.files else None,
            new_sha256=staged.files[path].sha256,
            size_bytes=staged.files[path].size,
        )
        for path in changed
    ] + [
        AuditEntry(
            AuditAction.SYNC, path, old_sha256=base.files[path].sha256, size_bytes=base.files[path].size
        )
        for path in deleted
    ]
    await store.record_version(session, workspace, staged, key, audit, actor_key_id=None, run_id=run_id)
    return RecordedSync(workspace_id, version, changed, deleted)


def _moved_on(workspace_id: str, version: int, current: int) -> ServiceError:
    return aborted(
        "WORKSPACE_VERSION_MISMATCH",
        f"workspace {workspace_id} is at version {current}; a sync to version {version} no longer applies",
        current_version=str(current),
    )


async def record_synced_event(
    session: AsyncSession,
    objects: ObjectStore,
    run_id: str,
    event: events_pb2.RunEvent,
    limits: WorkspaceLimits | None = None,
) -> events_pb2.RunEvent | None:
    """Record a ``workspace.synced`` event's version, for the ingest loop.

    Runs in a savepoint so that a refused sync does not undo the rest of the
    batch; returns a ``warning`` event to append after it when the version
    could not be recorded, None when it was.
    """
    synced = event.workspace_synced
    try:
        async with session.begin_nested():
            await record_sync(
                session,
                objects,
                run_id=run_id,
                workspace_id=synced.workspace_id,
                version=synced.version,
                limits=limits,
            )
    except ServiceError as exc:
        log.warning("workspace sync not recorded: %s", exc, extra={"run_id": run_id})
        return events_pb2.RunEvent(
            run_id=run_id,
            type="warning",
            turn_id=event.turn_id,
            warning=events_pb2.RunWarning(
                message=f"workspace version {synced.version} was not recorded: {exc.message}",
                reason=exc.reason,
            ),
        )
    return None
