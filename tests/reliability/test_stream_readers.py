"""Stream readers that come and go, and many at once: nothing lost, nothing twice, no errors.

The real control plane and the real gateway serve; the runs' events are
appended straight to their logs (what an executor's ingest does), so no
codex process is needed and the streams get all of the machine.

- Readers of :data:`RESUME_RUNS` runs disconnect at random (after a random
  number of events, or a random time, mid-replay or mid-live) and resume
  from their cursor, half over SSE with ``Last-Event-ID`` through the
  gateway, half over gRPC with ``after_seq``: each gets its run's whole log,
  gap-free, every event once.
- :data:`FANOUT_SUBSCRIBERS` SSE subscribers through the gateway follow
  :data:`FANOUT_RUNS` runs written concurrently: no error, and every
  subscriber gets every event of its run once.

The sizes below take about half a minute together on 2 cores; ``make soak``
runs them bigger (see :func:`~tests.reliability.conftest.soak`), and anyone
can set the environment variables to other sizes.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import grpc
import httpx
import pytest
import pytest_asyncio
from google.protobuf import json_format

from ccplane.v1 import common_pb2, events_pb2, runs_pb2, runs_pb2_grpc
from common.db.engine import Database
from control_plane.app import ControlPlane
from control_plane.auth import DEFAULT_TENANT
from control_plane.events.log import append_events
from control_plane.runs.state_machine import RunStatus, transition
from gateway import Gateway
from tests.conftest import RunFactory
from tests.integration.gateway.sse import frames
from tests.reliability.conftest import assert_gap_free, soak

pytestmark = [pytest.mark.slow]


def _size(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


RESUME_RUNS = _size("CCPLANE_TEST_RESUME_RUNS", soak(100, 500))
RESUME_EVENTS_PER_RUN = _size("CCPLANE_TEST_RESUME_EVENTS_PER_RUN", 30)
FANOUT_RUNS = _size("CCPLANE_TEST_FANOUT_RUNS", soak(50, 200))
FANOUT_SUBSCRIBERS = _size("CCPLANE_TEST_FANOUT_SUBSCRIBERS", soak(200, 500))
FANOUT_EVENTS_PER_RUN = _size("CCPLANE_TEST_FANOUT_EVENTS_PER_RUN", 30)
# A reader leaves after this many events at most, or this long after its first event.
MAX_EVENTS_PER_CONNECTION = 12
MAX_STAY_S = 0.3
# Writers pause up to this long between batches, so that readers catch up
# (live) as well as fall behind (replay).
MAX_WRITE_PAUSE_S = 0.05
WAIT_S = 120.0
SEED = int(os.environ.get("CCPLANE_TEST_SEED", "20250101"))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def gateway(control_plane: ControlPlane) -> AsyncIterator[Gateway]:
    gw = Gateway(control_plane.address, first_event_grace=0.2)
    await gw.start("127.0.0.1", 0)
    try:
        yield gw
    finally:
        await gw.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def http(gateway: Gateway, admin_key: str) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=FANOUT_SUBSCRIBERS)
    async with httpx.AsyncClient(
        base_url=gateway.url,
        timeout=httpx.Timeout(WAIT_S),
        limits=limits,
        headers={"authorization": f"Bearer {admin_key}"},
    ) as client:
        yield client


def _delta(text: str) -> events_pb2.RunEvent:
    return events_pb2.RunEvent(message_delta=events_pb2.MessageDelta(item_id="msg", delta=text))


async def write_run(database: Database, run_id: str, events: int, rng: random.Random) -> int:
    """Append ``events`` deltas in random batches with random pauses, then
    finish the run; the seq of its final event."""
    written = 0
    while written < events:
        size = min(rng.randint(1, 5), events - written)
        async with database.session() as session, session.begin():
            await append_events(session, run_id, [_delta(f"{written + i}") for i in range(size)])
        written += size
        await asyncio.sleep(rng.uniform(0, MAX_WRITE_PAUSE_S))
    async with database.session() as session, session.begin():
        result = await transition(session, run_id, RunStatus.SUCCEEDED, "test: done")
    assert result.accepted, result.reason
    assert result.seq is not None
    return result.seq


def gaps_and_duplicates(events: list[events_pb2.RunEvent], last_seq: int) -> tuple[int, int]:
    """How many of seqs 1..``last_seq`` a reader never got, and how many it got twice."""
    seqs = [e.seq for e in events]
    return len(set(range(1, last_seq + 1)) - set(seqs)), len(seqs) - len(set(seqs))


@dataclass
class Reader:
    """What one resuming reader received, and how often it came back."""

    run_id: str
    events: list[events_pb2.RunEvent] = field(default_factory=list)
    connections: int = 0

    @property
    def cursor(self) -> int:
        return self.events[-1].seq if self.events else 0


@dataclass
class Visit:
    """One connection of a reader: it leaves after ``take`` events, or
    ``stay_s`` after its first one (mid-replay or while waiting live).
    Every visit gets at least one event, so readers progress however slowly
    streams open."""

    reader: Reader
    take: int
    stay_s: float
    leave: asyncio.Timeout

    def received(self, event: events_pb2.RunEvent) -> bool:
        """Record ``event``; True when the reader leaves now."""
        self.reader.events.append(event)
        if self.leave.when() is None:
            self.leave.reschedule(asyncio.get_running_loop().time() + self.stay_s)
        self.take -= 1
        return self.take == 0


async def read_grpc_once(stub: runs_pb2_grpc.RunServiceStub, visit: Visit) -> bool:
    """One connection from the reader's cursor. True when the stream ended by itself."""
    request = runs_pb2.StreamRunEventsRequest(run_id=visit.reader.run_id, after_seq=visit.reader.cursor)
    call = stub.StreamRunEvents(request)
    try:
        async for event in call:
            if visit.received(event):
                return False
        return True
    finally:
        call.cancel()


async def read_sse_once(http: httpx.AsyncClient, visit: Visit) -> bool:
    """One connection, resuming with ``Last-Event-ID``. True when the stream ended by itself."""
    cursor = visit.reader.cursor
    headers = {"Last-Event-ID": str(cursor)} if cursor else {}
    async with http.stream("GET", f"/api/runs/{visit.reader.run_id}/events", headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        async for frame in frames(response):
            if frame.comment:
                continue
            assert frame.event != "error", frame.data
            event = json_format.Parse(frame.data, events_pb2.RunEvent())
            assert str(event.seq) == frame.id
            if visit.received(event):
                return False
    return True


async def resume_until_the_end(
    reader: Reader, rng: random.Random, stub: runs_pb2_grpc.RunServiceStub, http: httpx.AsyncClient | None
) -> None:
    """Connect, leave at random, resume from the cursor, until a stream ends by itself."""
    while True:
        reader.connections += 1
        try:
            async with asyncio.timeout(None) as leave:
                visit = Visit(
                    reader, rng.randint(1, MAX_EVENTS_PER_CONNECTION), rng.uniform(0, MAX_STAY_S), leave
                )
                if http is not None:
                    ended = await read_sse_once(http, visit)
                else:
                    ended = await read_grpc_once(stub, visit)
        except TimeoutError:
            ended = False
        if ended:
            return


async def test_readers_that_leave_at_random_resume_without_gaps_or_duplicates(
    channel: grpc.aio.Channel,
    http: httpx.AsyncClient,
    database: Database,
    make_run: RunFactory,
    prove: Callable[..., None],
) -> None:
    rng = random.Random(SEED)
    stub = runs_pb2_grpc.RunServiceStub(channel)
    run_ids = [await make_run("running", tenant_id=DEFAULT_TENANT) for _ in range(RESUME_RUNS)]
    readers = [Reader(run_id) for run_id in run_ids]
    started = time.monotonic()
    async with asyncio.timeout(WAIT_S), asyncio.TaskGroup() as tasks:
        finals = [
            tasks.create_task(write_run(database, run_id, RESUME_EVENTS_PER_RUN, random.Random(rng.random())))
            for run_id in run_ids
        ]
        for n, reader in enumerate(readers):
            by_sse = http if n % 2 == 0 else None
            tasks.create_task(resume_until_the_end(reader, random.Random(rng.random()), stub, by_sse))
    took = time.monotonic() - started

    gaps = duplicates = 0
    for reader, final in zip(readers, finals, strict=True):
        missing, twice = gaps_and_duplicates(reader.events, final.result())
        gaps, duplicates = gaps + missing, duplicates + twice
        assert_gap_free(reader.events)
        assert len(reader.events) == final.result() == RESUME_EVENTS_PER_RUN + 1
        assert reader.events[-1].status_changed.status == common_pb2.RUN_STATUS_SUCCEEDED
        assert {e.run_id for e in reader.events} == {reader.run_id}
    assert (gaps, duplicates) == (0, 0)
    resumes = sum(r.connections - 1 for r in readers)
    assert resumes >= 2 * RESUME_RUNS, f"only {resumes} resumes: the readers hardly left"
    received = sum(len(r.events) for r in readers)
    prove(
        fault="stream readers disconnect at random and resume",
        injected=f"{RESUME_RUNS} readers leave after up to {MAX_EVENTS_PER_CONNECTION} events or "
        f"{MAX_STAY_S:g} s, mid-replay or live, and resume from their cursor "
        "(half SSE Last-Event-ID through the gateway, half gRPC after_seq)",
        outcome=f"{RESUME_RUNS} runs, {resumes} resumes, {received} events received, "
        f"{gaps} gaps, {duplicates} duplicates; every reader got its run's whole log",
        bound_s=WAIT_S,
        measured_s=round(took, 2),
        lost=gaps,
    )


async def subscribe(http: httpx.AsyncClient, run_id: str) -> list[events_pb2.RunEvent]:
    """Every event of the run's SSE stream, until it ends; any error fails."""
    received: list[events_pb2.RunEvent] = []
    async with http.stream("GET", f"/api/runs/{run_id}/events") as response:
        assert response.status_code == 200, await response.aread()
        async for frame in frames(response):
            if frame.comment:
                continue
            assert frame.event != "error", frame.data
            received.append(json_format.Parse(frame.data, events_pb2.RunEvent()))
    return received


async def test_many_sse_subscribers_on_many_runs_get_every_event_once(
    gateway: Gateway,
    http: httpx.AsyncClient,
    database: Database,
    make_run: RunFactory,
    prove: Callable[..., None],
) -> None:
    rng = random.Random(SEED + 1)
    run_ids = [await make_run("running", tenant_id=DEFAULT_TENANT) for _ in range(FANOUT_RUNS)]
    followed = [run_ids[n % FANOUT_RUNS] for n in range(FANOUT_SUBSCRIBERS)]
    started = time.monotonic()
    async with asyncio.timeout(WAIT_S), asyncio.TaskGroup() as tasks:
        subscribers = [tasks.create_task(subscribe(http, run_id)) for run_id in followed]
        # Every subscriber is following before the runs are written: they all see them live.
        await gateway.streams.wait_until(lambda s: s.open >= FANOUT_SUBSCRIBERS)
        finals = {
            run_id: tasks.create_task(
                write_run(database, run_id, FANOUT_EVENTS_PER_RUN, random.Random(rng.random()))
            )
            for run_id in run_ids
        }
    took = time.monotonic() - started

    gaps = duplicates = received = 0
    for run_id, subscriber in zip(followed, subscribers, strict=True):
        events = subscriber.result()
        missing, twice = gaps_and_duplicates(events, finals[run_id].result())
        gaps, duplicates, received = gaps + missing, duplicates + twice, received + len(events)
        assert_gap_free(events)
        assert len(events) == finals[run_id].result() == FANOUT_EVENTS_PER_RUN + 1
        assert {e.run_id for e in events} == {run_id}
    assert (gaps, duplicates) == (0, 0)
    dropped = gateway.streams.dropped_slow_readers
    assert dropped == 0
    prove(
        fault="many SSE subscribers on many live runs at once",
        injected=f"{FANOUT_SUBSCRIBERS} SSE subscribers through the gateway follow {FANOUT_RUNS} runs "
        f"written concurrently ({FANOUT_EVENTS_PER_RUN} events each, in random batches)",
        outcome=f"{FANOUT_SUBSCRIBERS} subscribers, {received} events delivered, {gaps} gaps, "
        f"{duplicates} duplicates, no error frame, {dropped} slow readers dropped",
        bound_s=WAIT_S,
        measured_s=round(took, 2),
        lost=gaps,
    )
