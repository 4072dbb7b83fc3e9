"""Actions on live runs (inject, interrupt, stop), stored until delivered.

Any control-plane process accepts an action by writing a ``run_commands`` row
and notifying ``ccplane_run_commands`` (delivered at commit). The process
that owns the run's session wakes, sends the pending commands down the
session stream in order, and records the executor's answer. A command is
sent with ``request_id = cmd-<id>``; the executor answers each request id
once, so re-sending after a lost stream does not repeat the action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import models

NOTIFY_CHANNEL: Final = "ccplane_run_commands"
# Wakes schedulers: a run was queued (created, or re-queued for a follow-up).
QUEUED_CHANNEL: Final = "ccplane_runs_queued"
REF_PREFIX: Final = "cmd-"


@dataclass(frozen=True)
class Command:
    id: int
    run_id: str
    kind: str
    body: str

    @property
    def ref(self) -> str:
        return f"{REF_PREFIX}{self.id}"


def command_id_from_ref(ref: str) -> int | None:
    if ref.startswith(REF_PREFIX) and ref[len(REF_PREFIX) :].isdigit():
        return int(ref[len(REF_PREFIX) :])
    return None


async def enqueue(
    session: AsyncSession, run_id: str, kind: str, body: str = "", request_id: str = ""
) -> Command:
    """Store a command and wake the run's owner (at commit)."""
    row = models.RunCommand(run_id=run_id, kind=kind, body=body, request_id=request_id)
    session.add(row)
    await session.flush()
    await session.execute(select(func.pg_notify(NOTIFY_CHANNEL, run_id)))
    return Command(row.id, run_id, kind, body)


async def pending(session: AsyncSession, run_id: str) -> list[Command]:
    rows = (
        await session.execute(
            select(models.RunCommand)
            .where(models.RunCommand.run_id == run_id, models.RunCommand.delivered_at.is_(None))
            .order_by(models.RunCommand.id)
        )
    ).scalars()
    return [Command(r.id, r.run_id, r.kind, r.body) for r in rows]


async def mark_delivered(session: AsyncSession, command_id: int, code: int, message: str) -> None:
    await session.execute(
        update(models.RunCommand)
        .where(models.RunCommand.id == command_id, models.RunCommand.delivered_at.is_(None))
        .values(delivered_at=func.now(), result_code=code, result_message=message)
    )


async def mark_all_delivered(session: AsyncSession, run_id: str, message: str) -> None:
    """Close every pending command of a run (it ended before they could run)."""
    await session.execute(
        update(models.RunCommand)
        .where(models.RunCommand.run_id == run_id, models.RunCommand.delivered_at.is_(None))
        .values(delivered_at=func.now(), result_code=9, result_message=message)
    )


async def notify_owner(session: AsyncSession, run_id: str) -> None:
    """Wake the process that drives the run (at commit): something waits for it."""
    await session.execute(select(func.pg_notify(NOTIFY_CHANNEL, run_id)))


async def notify_queued(session: AsyncSession) -> None:
    """Wake every scheduler (at commit): a run waits to start."""
    await session.execute(select(func.pg_notify(QUEUED_CHANNEL, "")))
