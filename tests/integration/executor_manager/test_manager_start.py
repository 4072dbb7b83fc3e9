"""A starting manager trusts no executor row until the executor proves it is alive."""

from __future__ import annotations

from datetime import timedelta

from common import ids
from common.db import models
from common.db.engine import Database
from executor_manager import registry
from executor_manager.records import ExecutorAnnouncement, ExecutorState, HeartbeatReport


async def test_rows_left_ready_must_register_again(database: Database) -> None:
    executor_id = ids.new_id(ids.EXECUTOR)
    announcement = ExecutorAnnouncement(
        executor_id=executor_id, address="127.0.0.1:1", slots_total=2, providers=("manager-start-test",)
    )
    async with database.session() as session, session.begin():
        await registry.register(session, announcement)
    async with database.session() as session, session.begin():
        await registry.extend_deadlines(session, timedelta(seconds=30))
    async with database.session() as session:
        row = await session.get_one(models.Executor, executor_id)
    assert row.state == ExecutorState.STARTING.value, "not offered to runs until it is heard from"

    async with database.session() as session, session.begin():
        reply = await registry.heartbeat(
            session,
            HeartbeatReport(executor_id=executor_id, slots_used=0, draining=False),
            timedelta(seconds=30),
        )
    assert not reply.known, "a live executor is told to register again"
    async with database.session() as session, session.begin():
        record = await registry.register(session, announcement)
    assert record.state == ExecutorState.READY
