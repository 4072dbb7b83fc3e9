"""Executors as the manager knows them: registration, heartbeats, states, load.

Functions here take an open session (the caller owns the transaction) and
return :class:`~executor_manager.records.ExecutorRecord`; the ``executors``
table is the truth. Times come from the database clock (``now()``, the
transaction's start), so that several manager replicas agree.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import models
from common.errors import not_found
from common.paging import decode_token, encode_token
from executor_manager.records import (
    LIVE_STATES,
    ExecutorAnnouncement,
    ExecutorRecord,
    ExecutorState,
    HeartbeatReply,
    HeartbeatReport,
)

_LIVE = [s.value for s in LIVE_STATES]
# The backend name of executors that register on their own.
EXTERNAL_BACKEND = "external"


async def db_now(session: AsyncSession) -> datetime:
    """The database's time at the start of the current transaction."""
    return (await session.execute(select(func.now()))).scalar_one()


def open_lease_counts() -> Select[str, int]:
    """Open (not yet released or expired) leases per executor."""
    return (
        select(models.ExecutorLease.executor_id, func.count().label("open_leases"))
        .where(models.ExecutorLease.released_at.is_(None))
        .group_by(models.ExecutorLease.executor_id)
    )


def to_record(row: models.Executor, open_leases: int) -> ExecutorRecord:
    return ExecutorRecord(
        id=row.id,
        address=row.address,
        backend=row.backend,
        state=ExecutorState(row.state),
        slots_total=row.slots_total,
        slots_used=max(row.slots_used, open_leases),
        live_leases=open_leases,
        providers=tuple(str(p) for p in row.providers),
        labels={str(k): str(v) for k, v in row.labels.items()},
        version=row.version,
        registered_at=row.registered_at,
        last_heartbeat_at=row.last_heartbeat_at,
        metrics_address=row.metrics_address,
    )


async def _with_load(session: AsyncSession, rows: Sequence[models.Executor]) -> list[ExecutorRecord]:
    if not rows:
        return []
    counts_query = open_lease_counts().where(models.ExecutorLease.executor_id.in_([r.id for r in rows]))
    counts = {executor_id: n for executor_id, n in await session.execute(counts_query)}
    return [to_record(row, counts.get(row.id, 0)) for row in rows]


async def get(session: AsyncSession, executor_id: str) -> ExecutorRecord:
    row = await session.get(models.Executor, executor_id, populate_existing=True)
    if row is None:
        raise not_found("executor", executor_id)
    return (await _with_load(session, [row]))[0]


async def get_many(session: AsyncSession, executor_ids: Collection[str]) -> dict[str, ExecutorRecord]:
    if not executor_ids:
        return {}
    rows = (
        (await session.execute(select(models.Executor).where(models.Executor.id.in_(list(executor_ids)))))
        .scalars()
        .all()
    )
    return {record.id: record for record in await _with_load(session, rows)}


async def list_page(
    session: AsyncSession, *, page_size: int, page_token: str
) -> tuple[list[ExecutorRecord], str]:
    """Executors by id (oldest first); returns (executors, next_page_token)."""
    cursor = decode_token(page_token, key_length=1)
    stmt = select(models.Executor).order_by(models.Executor.id).limit(page_size + 1)
    if cursor is not None:
        stmt = stmt.where(models.Executor.id > str(cursor.key[0]))
    rows = (await session.execute(stmt)).scalars().all()
    records = await _with_load(session, rows[:page_size])
    next_token = encode_token([records[-1].id]) if len(rows) > page_size else ""
    return records, next_token


async def census(session: AsyncSession) -> list[ExecutorRecord]:
    """Every executor not STOPPED, with its load (the fleet's gauges)."""
    rows = (
        (
            await session.execute(
                select(models.Executor).where(models.Executor.state != ExecutorState.STOPPED.value)
            )
        )
        .scalars()
        .all()
    )
    return await _with_load(session, rows)


async def scrape_targets(session: AsyncSession) -> list[ExecutorRecord]:
    """READY and DRAINING executors that serve metrics, by id (their load is not counted)."""
    rows = (
        (
            await session.execute(
                select(models.Executor)
                .where(models.Executor.state.in_(_LIVE), models.Executor.metrics_address != "")
                .order_by(models.Executor.id)
            )
        )
        .scalars()
        .all()
    )
    return [to_record(row, 0) for row in rows]


async def register(session: AsyncSession, announcement: ExecutorAnnouncement) -> ExecutorRecord:
    """Record an executor as READY (new, restarted, or forgotten and back).

    Its open leases are kept: an executor registers again after losing the
    manager for a while, and its sessions may still be running.
    """
    values = {
        "address": announcement.address,
        "backend": announcement.backend,
        "state": ExecutorState.READY.value,
        "slots_total": announcement.slots_total,
        "slots_used": 0,
        "providers": list(announcement.providers),
        "labels": dict(announcement.labels),
        "version": announcement.version,
        "metrics_address": announcement.metrics_address,
        "registered_at": func.now(),
        "last_heartbeat_at": func.now(),
    }
    stmt = pg_insert(models.Executor).values(id=announcement.executor_id, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=[models.Executor.id], set_=values))
    return await get(session, announcement.executor_id)


async def heartbeat(session: AsyncSession, report: HeartbeatReport, lease_ttl: timedelta) -> HeartbeatReply:
    """Note that an executor is alive and how loaded it is; renew its leases.

    An executor the manager does not know, or no longer expects to hear from
    (not registered yet, unhealthy, stopped), is told to register again.
    """
    row = await session.get(models.Executor, report.executor_id, with_for_update=True, populate_existing=True)
    if row is None or row.state not in _LIVE:
        return HeartbeatReply(known=False, drain=False)
    now = await db_now(session)
    row.last_heartbeat_at = now
    row.slots_used = report.slots_used
    if report.draining:
        row.state = ExecutorState.DRAINING.value
    await session.execute(
        update(models.ExecutorLease)
        .where(
            models.ExecutorLease.executor_id == report.executor_id,
            models.ExecutorLease.released_at.is_(None),
        )
        .values(expires_at=now + lease_ttl)
    )
    return HeartbeatReply(known=True, drain=row.state == ExecutorState.DRAINING.value)


async def drain(session: AsyncSession, executor_id: str) -> ExecutorRecord:
    """Stop leasing an executor's slots. Draining an unhealthy or stopped
    executor changes nothing: it takes no leases anyway."""
    row = await session.get(models.Executor, executor_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise not_found("executor", executor_id)
    if row.state in (ExecutorState.READY.value, ExecutorState.STARTING.value):
        row.state = ExecutorState.DRAINING.value
    await session.flush()
    return await get(session, executor_id)


async def retire_if_idle(session: AsyncSession, executor_id: str) -> bool:
    """Mark a READY executor without open leases DRAINING, so that it can be
    stopped; False (and no change) when it took work meanwhile."""
    row = await session.get(models.Executor, executor_id, with_for_update=True, populate_existing=True)
    if row is None or row.state != ExecutorState.READY.value or row.slots_used > 0:
        return False
    open_leases = (
        await session.execute(open_lease_counts().where(models.ExecutorLease.executor_id == executor_id))
    ).first()
    if open_leases is not None:
        return False
    row.state = ExecutorState.DRAINING.value
    return True


async def mark_starting(
    session: AsyncSession, executor_id: str, *, backend: str, slots_total: int, labels: dict[str, str]
) -> None:
    """A backend is starting this executor; it is not registered yet."""
    values = {
        "address": "",
        "metrics_address": "",
        "backend": backend,
        "state": ExecutorState.STARTING.value,
        "slots_total": slots_total,
        "slots_used": 0,
        "labels": labels,
        "last_heartbeat_at": func.now(),
    }
    stmt = pg_insert(models.Executor).values(id=executor_id, providers=[], registered_at=func.now(), **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=[models.Executor.id], set_=values))


async def set_state(session: AsyncSession, executor_ids: Collection[str], state: ExecutorState) -> None:
    if executor_ids:
        await session.execute(
            update(models.Executor)
            .where(models.Executor.id.in_(list(executor_ids)))
            .values(state=state.value, slots_used=0)
        )


async def mark_silent_unhealthy(
    session: AsyncSession, *, heartbeat_timeout: timedelta, start_timeout: timedelta
) -> list[str]:
    """Executors that missed their heartbeats (or never registered after a
    start) become UNHEALTHY; returns their ids.

    Except an executor that registered on its own (backend ``external``),
    was draining and holds no lease: it drained and left (its last heartbeat
    said goodbye, and nobody of ours stops it), so it is STOPPED, gone, not
    sick, and forgotten in time. One that vanished holding leases left work
    behind: UNHEALTHY.
    """
    now = await db_now(session)
    silent = (
        select(models.Executor.id, models.Executor.state, models.Executor.backend)
        .where(
            (models.Executor.state.in_(_LIVE) & (models.Executor.last_heartbeat_at < now - heartbeat_timeout))
            | (
                (models.Executor.state == ExecutorState.STARTING.value)
                & (models.Executor.last_heartbeat_at < now - start_timeout)
            )
        )
        .order_by(models.Executor.id)
        # A row locked by a heartbeat belongs to an executor that is alive.
        .with_for_update(skip_locked=True)
    )
    rows = (await session.execute(silent)).all()
    drained = [
        executor_id
        for executor_id, state, backend in rows
        if state == ExecutorState.DRAINING.value and backend == EXTERNAL_BACKEND
    ]
    busy = set()
    if drained:
        held = open_lease_counts().where(models.ExecutorLease.executor_id.in_(drained))
        busy = {executor_id for executor_id, _ in await session.execute(held)}
    gone = [executor_id for executor_id in drained if executor_id not in busy]
    await set_state(session, gone, ExecutorState.STOPPED)
    await set_state(session, [row[0] for row in rows if row[0] not in gone], ExecutorState.UNHEALTHY)
    return [row[0] for row in rows]


async def extend_deadlines(session: AsyncSession, lease_ttl: timedelta) -> None:
    """Give every open lease a full timeout from now, and make every executor
    known before prove it is alive before it gets new work.

    Called when a manager starts: executors could not heartbeat while no
    manager was listening, which is not their fault, so their leases live
    on. But a row left READY by a process that died meanwhile must not be
    offered to runs: executors go back to STARTING (with the start timeout
    as grace); their next heartbeat is told to register again, which makes
    a live one READY; a dead one turns UNHEALTHY after the start timeout.
    """
    now = await db_now(session)
    await session.execute(
        update(models.Executor)
        .where(models.Executor.state.in_(_LIVE))
        .values(state=ExecutorState.STARTING.value, last_heartbeat_at=now)
    )
    await session.execute(
        update(models.ExecutorLease)
        .where(models.ExecutorLease.released_at.is_(None))
        .values(expires_at=func.greatest(models.ExecutorLease.expires_at, now + lease_ttl))
    )


async def forgive_silence(session: AsyncSession, lease_ttl: timedelta) -> None:
    """After this manager could not reach the database: no executor could
    heartbeat meanwhile, which is not its fault. Every live executor counts
    as heard from now, and every open lease gets a full timeout."""
    now = await db_now(session)
    await session.execute(
        update(models.Executor).where(models.Executor.state.in_(_LIVE)).values(last_heartbeat_at=now)
    )
    await session.execute(
        update(models.ExecutorLease)
        .where(models.ExecutorLease.released_at.is_(None))
        .values(expires_at=func.greatest(models.ExecutorLease.expires_at, now + lease_ttl))
    )


async def forget_gone(session: AsyncSession, older_than: timedelta) -> int:
    """Delete STOPPED and UNHEALTHY executors silent for ``older_than`` (and,
    by cascade, their lease history); returns how many."""
    now = await db_now(session)
    result = await session.execute(
        delete(models.Executor)
        .where(
            models.Executor.state.in_([ExecutorState.STOPPED.value, ExecutorState.UNHEALTHY.value]),
            models.Executor.last_heartbeat_at < now - older_than,
        )
        .returning(models.Executor.id)
    )
    return len(result.scalars().all())
