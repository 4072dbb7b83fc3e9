"""The reconciler loop against a database of its own: it acts without being
called, one process at a time, and settles each kind of stuck run once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy import select, update

from common import ids
from common.db import models
from common.db.engine import Database
from common.db.migrate import upgrade
from control_plane.orchestration.instance import Instance
from control_plane.reconcile import runs as reconcile
from control_plane.reconcile.loop import Reconciler
from control_plane.reconcile.runs import ReconcilePolicy
from control_plane.runs.state_machine import RunStatus, transition
from tests.conftest import RunFactory
from tests.integration.human_loop.conftest import ask, run_status, stored
from tests.platform import own_database

POLICY = ReconcilePolicy(
    lost_grace=timedelta(seconds=2),
    orphan_after=timedelta(seconds=2),
    start_timeout=timedelta(seconds=5),
    queued_alert_after=timedelta(seconds=5),
)
LONG_AGO = timedelta(hours=1)
WAIT_S = 10.0


class Releases:
    """The executor-manager's ReleaseExecutor, as the reconciler calls it."""

    def __init__(self) -> None:
        self.released: list[str] = []

    async def __call__(self, lease_id: str) -> None:
        self.released.append(lease_id)


@pytest.fixture(scope="module")
def reconcile_db_url(postgres_server_url: str) -> Iterator[str]:
    with own_database(postgres_server_url, "ccplane_reconcile") as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def db(reconcile_db_url: str) -> AsyncIterator[Database]:
    await upgrade(reconcile_db_url)
    database = Database(reconcile_db_url, pool_size=4, application_name="ccplane-reconcile-tests")
    try:
        yield database
    finally:
        await database.close()


@pytest_asyncio.fixture(loop_scope="session")
async def instance(reconcile_db_url: str) -> AsyncIterator[Instance]:
    instance = Instance(reconcile_db_url)
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


@pytest_asyncio.fixture(loop_scope="session", autouse=True)
async def clean(db: Database) -> None:
    """Every test starts from no runs, executors, leases or alerts."""
    async with db.session() as session, session.begin():
        for table in (models.ReconcileAlert, models.ExecutorLease, models.Executor, models.AgentRun):
            await session.execute(table.__table__.delete())


async def _aged(db: Database, run_id: str, age: timedelta = LONG_AGO) -> str:
    async with db.session() as session, session.begin():
        await session.execute(
            update(models.AgentRun)
            .where(models.AgentRun.id == run_id)
            .values(updated_at=datetime.now(UTC) - age)
        )
    return run_id


async def _alerts(db: Database) -> list[tuple[str | None, str]]:
    async with db.session() as session:
        rows = await session.execute(select(models.ReconcileAlert.run_id, models.ReconcileAlert.kind))
        return [(run_id, kind) for run_id, kind in rows]


async def _wait_for_status(db: Database, run_id: str, status: str) -> None:
    async with asyncio.timeout(WAIT_S):
        while await run_status(db, run_id) != status:  # noqa: ASYNC110 - polling the database is the test
            await asyncio.sleep(0.1)


async def _executor(db: Database, *, slots: int, state: str = "ready") -> str:
    executor_id = ids.new_id(ids.EXECUTOR)
    async with db.session() as session, session.begin():
        session.add(
            models.Executor(
                id=executor_id,
                address="127.0.0.1:1",
                backend="local",
                state=state,
                slots_total=slots,
                slots_used=0,
                providers=["codex-app-server"],
                labels={},
                version="test",
            )
        )
    return executor_id


async def _lease(db: Database, executor_id: str, run_id: str) -> str:
    lease_id = ids.new_id(ids.LEASE)
    async with db.session() as session, session.begin():
        session.add(
            models.ExecutorLease(
                id=lease_id,
                executor_id=executor_id,
                run_id=run_id,
                tenant_id="ten_test",
                expires_at=datetime.now(UTC) + timedelta(hours=1),
            )
        )
    return lease_id


async def test_the_loop_fails_a_lost_run_after_its_grace_without_being_called(
    db: Database, instance: Instance
) -> None:
    executor_id = await _executor(db, slots=2)
    lost = await RunFactory(db)("running", executor_id=executor_id)
    lease_id = await _lease(db, executor_id, lost)
    question = await ask(db, lost)
    async with db.session() as session, session.begin():
        await transition(
            session, lost, RunStatus.LOST, "lease expired", lease_id=lease_id, error="executor silent"
        )
    releases = Releases()
    loop = Reconciler(db, instance, POLICY, release=releases, interval_s=0.2)
    clock = asyncio.get_running_loop()
    started = clock.time()
    loop.start()
    try:
        await _wait_for_status(db, lost, "failed")
    finally:
        await loop.stop()
    assert clock.time() - started >= POLICY.lost_grace.total_seconds() - 0.5, "not before the grace period"
    async with db.session() as session:
        run = await session.get_one(models.AgentRun, lost)
    assert run.error_reason == "EXECUTOR_LOST"
    assert run.error is not None and "executor silent" in run.error
    assert (await stored(db, question)).status == "canceled"
    assert await _alerts(db) == [(lost, reconcile.LOST_EXPIRED)]
    assert releases.released == [lease_id], "the failed run's slot is given back"
    assert loop.passes >= 1
    assert loop.actions_total == {reconcile.LOST_EXPIRED: 1}


async def test_a_lost_run_that_heals_within_its_grace_is_left_alone(db: Database, instance: Instance) -> None:
    lost = await _aged(db, await RunFactory(db)("lost"), timedelta(seconds=1))
    report = await Reconciler(db, instance, POLICY).pass_once()
    assert report is not None and report.actions == []
    assert await run_status(db, lost) == "lost"


async def test_one_process_acts_at_a_time(db: Database, instance: Instance, reconcile_db_url: str) -> None:
    runs = [await _aged(db, await RunFactory(db)("lost")) for _ in range(5)]
    other = Instance(reconcile_db_url)
    await other.start()
    try:
        first = Reconciler(db, instance, POLICY)
        second = Reconciler(db, other, POLICY)
        reports = await asyncio.gather(*(r.pass_once(wait=False) for r in (first, second, first, second)))
    finally:
        await other.stop()
    acted = [r for r in reports if r is not None and r.actions]
    assert len(acted) == 1, "the lock lets one pass act; the others skip or find nothing left"
    assert sorted(a.run_id for a in acted[0].actions) == sorted(runs)
    for run_id in runs:
        assert await run_status(db, run_id) == "failed"
    assert len(await _alerts(db)) == len(runs), "each run reconciled once"


async def test_a_run_stuck_starting_fails_with_start_timeout(db: Database, instance: Instance) -> None:
    stuck = await _aged(db, await RunFactory(db)("starting"))
    recent = await RunFactory(db)("starting")
    report = await Reconciler(db, instance, POLICY).pass_once()
    assert report is not None
    assert [(a.kind, a.run_id) for a in report.actions] == [(reconcile.START_TIMED_OUT, stuck)]
    async with db.session() as session:
        run = await session.get_one(models.AgentRun, stuck)
    assert (run.status, run.error_reason) == ("failed", "START_TIMEOUT")
    assert await run_status(db, recent) == "starting"


async def test_a_run_queued_too_long_without_capacity_raises_one_alert_and_stays_queued(
    db: Database, instance: Instance
) -> None:
    full = await _executor(db, slots=1)
    await _lease(db, full, await RunFactory(db)("running"))
    queued = await _aged(db, await RunFactory(db)("queued"))
    reconciler = Reconciler(db, instance, POLICY)

    first = await reconciler.pass_once()
    second = await reconciler.pass_once()
    assert first is not None and [(a.kind, a.run_id) for a in first.actions] == [
        (reconcile.QUEUED_TOO_LONG, queued)
    ]
    assert second is not None and second.actions == [], "one alert per run, not one per pass"
    assert await run_status(db, queued) == "queued"
    assert await _alerts(db) == [(queued, reconcile.QUEUED_TOO_LONG)]


async def test_a_run_queued_long_while_slots_are_free_raises_no_alert(
    db: Database, instance: Instance
) -> None:
    await _executor(db, slots=2)
    await _aged(db, await RunFactory(db)("queued"))
    report = await Reconciler(db, instance, POLICY).pass_once()
    assert report is not None and report.actions == []


async def test_leases_of_finished_runs_are_released(db: Database, instance: Instance) -> None:
    executor_id = await _executor(db, slots=4)
    finished = await RunFactory(db)("succeeded")
    stale = await _lease(db, executor_id, finished)
    live = await RunFactory(db)("running")
    await _lease(db, executor_id, live)
    releases = Releases()
    reconciler = Reconciler(db, instance, POLICY, release=releases)

    dry = await reconciler.pass_once(dry_run=True)
    assert dry is not None and [(a.kind, a.lease_id) for a in dry.actions] == [(reconcile.STALE_LEASE, stale)]
    assert releases.released == [], "a dry run releases nothing"
    report = await reconciler.pass_once()
    assert report is not None and [a.lease_id for a in report.actions] == [stale]
    assert releases.released == [stale], "the live run keeps its lease"
