"""Run storage: create, get and list runs for a caller's tenant.

Rows stay here; callers get :class:`RunRecord`. Creating a run writes the
run, its workspace (when none was given), its idempotency key and the first
``run.status_changed`` event in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf import timestamp_pb2
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ccplane.v1 import common_pb2, events_pb2
from common import ids
from common.db import models
from common.errors import already_exists, not_found
from common.paging import decode_token, encode_token
from control_plane.auth import Caller
from control_plane.events.log import append_events
from control_plane.limits import check_run_quota
from control_plane.orchestration import commands
from control_plane.runs.records import NewRun, RunRecord

CREATE_RUN_SCOPE = "CreateRun"


async def create_run(session: AsyncSession, caller: Caller, new: NewRun) -> tuple[RunRecord, bool]:
    """Create a run; returns (run, created). Call inside a transaction.

    With a request_id already used by this tenant, returns the run it created
    (created=False), or ALREADY_EXISTS when the request differs. A tenant at
    its limit of unfinished runs gets RESOURCE_EXHAUSTED.
    """
    run_id = ids.new_id(ids.RUN)
    if new.request_id:
        claimed = await session.execute(
            insert(models.IdempotencyKey)
            .values(
                tenant_id=caller.tenant_id,
                scope=CREATE_RUN_SCOPE,
                request_id=new.request_id,
                request_hash=new.request_hash,
                resource_id=run_id,
            )
            .on_conflict_do_nothing()
            .returning(models.IdempotencyKey.resource_id)
        )
        if claimed.scalar_one_or_none() is None:
            return await _existing_for_request(session, caller, new), False

    await check_run_quota(session, caller.tenant_id, caller.limits)
    workspace_id = new.workspace_id
    if workspace_id is None:
        workspace_id = ids.new_id(ids.WORKSPACE)
        session.add(
            models.Workspace(id=workspace_id, tenant_id=caller.tenant_id, name=f"workspace of {run_id}")
        )
    else:
        owner = await session.scalar(
            select(models.Workspace.tenant_id).where(models.Workspace.id == workspace_id)
        )
        if owner != caller.tenant_id:
            raise not_found("workspace", workspace_id)

    session.add(
        models.AgentRun(
            id=run_id,
            tenant_id=caller.tenant_id,
            workspace_id=workspace_id,
            status="queued",
            provider=new.provider,
            model=new.model,
            prompt=new.prompt,
            settings=new.settings,
            require_human_loop=new.require_human_loop,
            resume_thread_id=new.resume_thread_id,
            thread_id=new.resume_thread_id,
            labels=new.labels,
            trace_id=new.trace_id,
            trace_span_id=new.trace_span_id,
        )
    )
    await session.flush()
    created = events_pb2.RunEvent(
        run_id=run_id,
        type="run.status_changed",
        trace_id=new.trace_id,
        time=_now(),
        status_changed=events_pb2.RunStatusChanged(
            previous_status=common_pb2.RUN_STATUS_UNSPECIFIED,
            status=common_pb2.RUN_STATUS_QUEUED,
            reason="created",
        ),
    )
    await append_events(session, run_id, [created])
    await commands.notify_queued(session)
    row = await session.get_one(models.AgentRun, run_id, populate_existing=True)
    return RunRecord.from_row(row), True


async def _existing_for_request(session: AsyncSession, caller: Caller, new: NewRun) -> RunRecord:
    key = await session.get_one(models.IdempotencyKey, (caller.tenant_id, CREATE_RUN_SCOPE, new.request_id))
    if key.request_hash != new.request_hash:
        raise already_exists(
            "REQUEST_ID_REUSED",
            f"request_id {new.request_id!r} was already used for a different request",
            run_id=key.resource_id,
        )
    return await get_run(session, caller, key.resource_id)


async def get_run(
    session: AsyncSession, caller: Caller, run_id: str, *, for_update: bool = False
) -> RunRecord:
    stmt = select(models.AgentRun).where(
        models.AgentRun.id == run_id, models.AgentRun.tenant_id == caller.tenant_id
    )
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise not_found("run", run_id)
    return RunRecord.from_row(row)


async def list_runs(
    session: AsyncSession,
    caller: Caller,
    *,
    page_size: int,
    page_token: str,
    statuses: Sequence[str] = (),
    workspace_id: str = "",
    thread_id: str = "",
) -> tuple[list[RunRecord], str]:
    """Runs newest first; returns (runs, next_page_token)."""
    filters = [sorted(statuses), workspace_id, thread_id]
    cursor = decode_token(page_token, filters, key_length=1)
    stmt = select(models.AgentRun).where(models.AgentRun.tenant_id == caller.tenant_id)
    if statuses:
        stmt = stmt.where(models.AgentRun.status.in_(list(statuses)))
    if workspace_id:
        stmt = stmt.where(models.AgentRun.workspace_id == workspace_id)
    if thread_id:
        stmt = stmt.where(models.AgentRun.thread_id == thread_id)
    if cursor is not None:
        stmt = stmt.where(models.AgentRun.id < str(cursor.key[0]))
    # Run ids are ULIDs: ordering by id is ordering by creation time.
    rows = (
        (await session.execute(stmt.order_by(models.AgentRun.id.desc()).limit(page_size + 1))).scalars().all()
    )
    runs = [RunRecord.from_row(r) for r in rows[:page_size]]
    next_token = encode_token([runs[-1].id], filters) if len(rows) > page_size else ""
    return runs, next_token


def _now() -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.GetCurrentTime()
    return ts
