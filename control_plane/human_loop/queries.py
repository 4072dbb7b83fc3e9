"""Reading human-loop requests for a caller's tenant: one, pending ones, any.

Lists are paged (AIP-158) on ``(created_at, question_id)``: pending requests
oldest first (the order in which the agent asked), all requests newest
first. A page token is bound to the filters it was issued for.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from common import errors
from common.db import models
from common.paging import decode_token, encode_token
from control_plane.auth import Caller
from control_plane.human_loop.records import HumanLoopRecord, RequestStatus

Row = models.HumanLoopRequest


async def get_request(session: AsyncSession, caller: Caller, question_id: str) -> HumanLoopRecord:
    """The request, or NOT_FOUND when it does not exist or belongs to another tenant."""
    row = (
        await session.execute(
            select(Row).where(Row.question_id == question_id, Row.tenant_id == caller.tenant_id)
        )
    ).scalar_one_or_none()
    if row is None:
        raise errors.not_found("human_loop_request", question_id)
    return HumanLoopRecord.from_row(row)


async def count_pending(session: AsyncSession, tenant_id: str | None = None) -> int:
    """How many requests wait for a person: of one tenant, or of every tenant (for metrics)."""
    stmt = select(func.count()).select_from(Row).where(Row.status == RequestStatus.PENDING.value)
    if tenant_id is not None:
        stmt = stmt.where(Row.tenant_id == tenant_id)
    return int(await session.scalar(stmt) or 0)


async def list_pending(
    session: AsyncSession,
    caller: Caller,
    *,
    run_id: str = "",
    workspace_id: str = "",
    page_size: int,
    page_token: str = "",
) -> tuple[list[HumanLoopRecord], str]:
    """Pending requests, oldest first; returns (requests, next_page_token)."""
    return await _page(
        session,
        caller,
        filters=["pending", run_id, workspace_id],
        statuses=[RequestStatus.PENDING],
        run_id=run_id,
        workspace_id=workspace_id,
        page_size=page_size,
        page_token=page_token,
        newest_first=False,
    )


async def list_requests(
    session: AsyncSession,
    caller: Caller,
    *,
    run_id: str = "",
    workspace_id: str = "",
    statuses: Sequence[RequestStatus] = (),
    page_size: int,
    page_token: str = "",
) -> tuple[list[HumanLoopRecord], str]:
    """Requests with one of ``statuses`` (all when empty), newest first."""
    wanted = sorted(set(statuses))
    return await _page(
        session,
        caller,
        filters=["all", run_id, workspace_id, [s.value for s in wanted]],
        statuses=wanted,
        run_id=run_id,
        workspace_id=workspace_id,
        page_size=page_size,
        page_token=page_token,
        newest_first=True,
    )


async def _page(
    session: AsyncSession,
    caller: Caller,
    *,
    filters: list[object],
    statuses: Sequence[RequestStatus],
    run_id: str,
    workspace_id: str,
    page_size: int,
    page_token: str,
    newest_first: bool,
) -> tuple[list[HumanLoopRecord], str]:
    cursor = decode_token(page_token, filters, key_length=2)
    stmt = select(Row).where(Row.tenant_id == caller.tenant_id)
    if statuses:
        stmt = stmt.where(Row.status.in_([s.value for s in statuses]))
    if run_id:
        stmt = stmt.where(Row.run_id == run_id)
    if workspace_id:
        stmt = stmt.where(Row.workspace_id == workspace_id)
    key = tuple_(Row.created_at, Row.question_id)
    if cursor is not None:
        after = (_timestamp(cursor.key[0]), str(cursor.key[1]))
        stmt = stmt.where(key < after if newest_first else key > after)
    if newest_first:
        stmt = stmt.order_by(Row.created_at.desc(), Row.question_id.desc())
    else:
        stmt = stmt.order_by(Row.created_at, Row.question_id)
    rows = (await session.execute(stmt.limit(page_size + 1))).scalars().all()
    records = [HumanLoopRecord.from_row(r) for r in rows[:page_size]]
    next_token = ""
    if len(rows) > page_size:
        last = records[-1]
        next_token = encode_token([last.created_at.isoformat(), last.question_id], filters)
    return records, next_token


def _timestamp(value: object) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise errors.invalid_argument("page_token", "malformed page token") from None
    if parsed.tzinfo is None:
        raise errors.invalid_argument("page_token", "malformed page token")
    return parsed
