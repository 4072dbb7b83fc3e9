"""The expiry sweeper: one pass on demand, and its owned periodic task."""

from __future__ import annotations

from common.db.engine import Database
from control_plane.human_loop.sweeper import ExpirySweeper
from tests.conftest import RunFactory
from tests.integration.human_loop.conftest import (
    CommandWakeups,
    command_approval,
    log_of,
    record,
    run_status,
    stored,
    types_of,
)

# The shortest timeout a run can ask for: due as soon as it is recorded.
DUE_NOW = {"human_loop_timeout": "0.000001s"}


async def test_sweep_once_expires_what_is_due(database: Database, make_run: RunFactory) -> None:
    due_run = await make_run("running", settings=DUE_NOW)
    later_run = await make_run("running")
    due = (await record(database, due_run, command_approval())).request.question_id
    later = (
        await record(database, later_run, command_approval(), default_timeout_s=3600)
    ).request.question_id

    expired = await ExpirySweeper(database).sweep_once()

    assert due in [r.question_id for r in expired]
    assert later not in [r.question_id for r in expired]
    assert (await stored(database, due)).status == "expired"
    assert (await stored(database, later)).status == "pending"
    assert types_of(await log_of(database, due_run))[-2:] == ["human_loop.expired", "status:running"]
    assert await run_status(database, later_run) == "waiting_human"


async def test_the_running_sweeper_expires_and_wakes_the_owner(
    database: Database, make_run: RunFactory, wakeups: CommandWakeups
) -> None:
    sweeper = ExpirySweeper(database, interval_s=0.05)
    sweeper.start()
    try:
        run_id = await make_run("running", settings=DUE_NOW)
        question_id = (await record(database, run_id, command_approval())).request.question_id
        await wakeups.next_for(run_id)
    finally:
        await sweeper.stop()
    assert (await stored(database, question_id)).status == "expired"
    await sweeper.stop()  # stopping twice is fine
