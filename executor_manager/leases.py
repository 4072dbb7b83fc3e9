"""Leases: a slot on an executor, held for one run.

A lease is *open* until its holder releases it or it expires. It expires
when its executor stops heartbeating for ``heartbeat_timeout`` (each
heartbeat pushes ``expires_at`` forward) or when its executor exits. A lease
closed before its deadline was released; one closed at or after its deadline
expired (``released_at >= expires_at``), which is how the table tells the two
apart.

Every change is announced with ``pg_notify`` inside the transaction that
makes it, so watchers (:mod:`.feed`) hear of it only once it is committed,
from whichever manager replica made it.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from common import ids
from common.db import models
from common.errors import not_found
from executor_manager import registry
from executor_manager.records import (
    ExecutorRecord,
    ExecutorState,
    LeaseChange,
    LeaseEvent,
    LeaseRecord,
    LeaseRequest,
)

NOTIFY_CHANNEL = "ccplane_executor_leases"


def choose_executor(
    candidates: Sequence[ExecutorRecord], preferred_executor_id: str = ""
) -> ExecutorRecord | None:
    """The executor a new lease goes to: the preferred one when it has a free
    slot, else the least loaded (by share of slots used, then most free slots,
    then id for a stable order); None when no candidate has a free slot."""
    free = [c for c in candidates if c.state == ExecutorState.READY and c.free_slots > 0]
    for candidate in free:
        if candidate.id == preferred_executor_id:
            return candidate
    return min(free, key=lambda c: (c.slots_used / c.slots_total, -c.free_slots, c.id), default=None)


async def notify(session: AsyncSession, change: LeaseChange, lease_id: str) -> None:
    payload = json.dumps({"change": change.value, "lease_id": lease_id})
    await session.execute(select(func.pg_notify(NOTIFY_CHANNEL, payload)))


def _to_record(row: models.ExecutorLease, address: str) -> LeaseRecord:
    return LeaseRecord(
        id=row.id,
        executor_id=row.executor_id,
        address=address,
        run_id=row.run_id,
        tenant_id=row.tenant_id,
        acquired_at=row.acquired_at,
        expires_at=row.expires_at,
        released_at=row.released_at,
    )


async def _records(session: AsyncSession, lease_ids: Collection[str]) -> list[LeaseRecord]:
    if not lease_ids:
        return []
    rows = await session.execute(
        select(models.ExecutorLease, models.Executor.address)
        .join(models.Executor, models.Executor.id == models.ExecutorLease.executor_id)
        .where(models.ExecutorLease.id.in_(list(lease_ids)))
        .order_by(models.ExecutorLease.id)
        .execution_options(populate_existing=True)
    )
    return [_to_record(row, address) for row, address in rows]


async def get(session: AsyncSession, lease_id: str) -> LeaseRecord | None:
    found = await _records(session, [lease_id])
    return found[0] if found else None


async def acquire(
    session: AsyncSession, request: LeaseRequest, ttl: timedelta
) -> tuple[LeaseRecord, bool] | None:
    """Lease a slot for ``request.run_id``: (the lease, whether it is new);
    None when no ready executor that runs the provider has a free slot.

    The candidate executors are locked (in id order) before their load is
    counted, so concurrent acquisitions, here or on another replica, see each
    other's leases and never over-commit an executor. A run that already
    holds an open lease gets that lease back (a retried call).
    """
    rows = (
        (
            await session.execute(
                select(models.Executor)
                .where(
                    models.Executor.state == ExecutorState.READY.value,
                    models.Executor.providers.contains([request.provider]),
                )
                .order_by(models.Executor.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        )
        .scalars()
        .all()
    )
    now = await registry.db_now(session)
    held = (
        await session.execute(
            select(models.ExecutorLease.id)
            .where(
                models.ExecutorLease.run_id == request.run_id,
                models.ExecutorLease.released_at.is_(None),
                models.ExecutorLease.expires_at > now,
            )
            .limit(1)
        )
    ).scalar_one_or_none()
    if held is not None:
        lease = await get(session, held)
        assert lease is not None
        return lease, False
    candidates = [registry.to_record(row, 0) for row in rows]
    if candidates:
        counts_query = registry.open_lease_counts().where(
            models.ExecutorLease.executor_id.in_([c.id for c in candidates])
        )
        counts: dict[str, int] = {e: n for e, n in await session.execute(counts_query)}
        candidates = [registry.to_record(row, counts.get(row.id, 0)) for row in rows]
    chosen = choose_executor(candidates, request.preferred_executor_id)
    if chosen is None:
        return None
    row = models.ExecutorLease(
        id=ids.new_id(ids.LEASE),
        executor_id=chosen.id,
        run_id=request.run_id,
        tenant_id=request.tenant_id,
        acquired_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    await session.flush()
    await notify(session, LeaseChange.ACQUIRED, row.id)
    return _to_record(row, chosen.address), True


async def release(session: AsyncSession, lease_id: str) -> LeaseEvent | None:
    """Close a lease; the event that reports it, or None when it was closed already."""
    row = await session.get(models.ExecutorLease, lease_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise not_found("lease", lease_id)
    if row.released_at is not None:
        return None
    now = await registry.db_now(session)
    row.released_at = now
    change = LeaseChange.RELEASED if now < row.expires_at else LeaseChange.EXPIRED
    await session.flush()
    await notify(session, change, lease_id)
    lease = await get(session, lease_id)
    assert lease is not None
    return LeaseEvent(change, lease)


async def expire(session: AsyncSession, executor_ids: Collection[str] = ()) -> list[LeaseRecord]:
    """Expire open leases past their deadline, and every open lease of
    ``executor_ids`` (executors that went silent or exited); returns them."""
    now = await registry.db_now(session)
    due = models.ExecutorLease.expires_at <= now
    if executor_ids:
        due = or_(due, models.ExecutorLease.executor_id.in_(list(executor_ids)))
    # Leases locked by a heartbeat that is renewing them are skipped.
    locked = await session.execute(
        select(models.ExecutorLease.id)
        .where(models.ExecutorLease.released_at.is_(None), due)
        .order_by(models.ExecutorLease.id)
        .with_for_update(skip_locked=True)
    )
    expired_ids = list(locked.scalars().all())
    if not expired_ids:
        return []
    await session.execute(
        update(models.ExecutorLease)
        .where(models.ExecutorLease.id.in_(expired_ids))
        # Closing at the deadline is what marks a lease expired rather than released.
        .values(released_at=now, expires_at=func.least(models.ExecutorLease.expires_at, now))
    )
    for lease_id in expired_ids:
        await notify(session, LeaseChange.EXPIRED, lease_id)
    return await _records(session, expired_ids)
