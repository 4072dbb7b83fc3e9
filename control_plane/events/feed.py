"""Wake-ups for readers of run event logs, from PostgreSQL LISTEN/NOTIFY.

:func:`control_plane.events.log.append_events` queues a ``NOTIFY`` on
:data:`~control_plane.events.log.NOTIFY_CHANNEL` with the run id, delivered
when the writing transaction commits — in whichever control-plane process
wrote it. :class:`EventFeed` holds this process's one ``LISTEN`` connection
and turns each notification into a wake-up of the readers of that run. A
wake-up carries nothing: readers re-read the log from their cursor. The
payload only says *which* run to wake.

Subscribe *before* reading, then wait: a :class:`RunWakeup` remembers any
notification that arrived since it was created or last waited on, so a
commit that lands between a reader's read and its wait is never slept
through. Two things can still make a notification go missing: the LISTEN
connection dropping (it is re-opened, and once listening again every reader
is woken to re-read), and anything we have not thought of, which is why
:meth:`RunWakeup.wait` times out after ``fallback_interval`` seconds and
readers then re-read anyway. A lost notification costs latency, never an
event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Final

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from control_plane.events.log import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

DEFAULT_FALLBACK_INTERVAL: Final = 3.0
# How long the LISTEN connection may stay silent before we check it is alive.
DEFAULT_HEALTH_INTERVAL: Final = 15.0
_HEALTH_TIMEOUT: Final = 5.0
_CONNECT_TIMEOUT_S: Final = 5
# Delays between reconnection attempts; the last one repeats.
DEFAULT_RECONNECT_DELAYS: Final = (0.05, 0.25, 1.0, 2.0, 5.0)


def listen_conninfo(url: str) -> str:
    """``url`` (SQLAlchemy ``postgresql+psycopg://`` or plain) as a libpq URI."""
    parsed = make_url(url)
    if parsed.drivername.split("+", 1)[0] not in {"postgresql", "postgres"}:
        raise ValueError(f"not a PostgreSQL URL: {parsed.drivername!r}")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


class RunWakeup:
    """One reader's subscription to the wake-ups of one run.

    Armed from creation: a notification that arrives while the reader is
    busy reading is remembered until the next :meth:`wait`.
    """

    def __init__(self, run_id: str, fallback_interval: float) -> None:
        self.run_id = run_id
        self._fallback_interval = fallback_interval
        self._woken = asyncio.Event()

    @property
    def woken(self) -> bool:
        """True when a wake-up is pending (the next :meth:`wait` returns at once)."""
        return self._woken.is_set()

    def wake(self) -> None:
        self._woken.set()

    async def wait(self) -> bool:
        """Wait for a wake-up; True when woken, False after the feed's fallback interval.

        Either way the reader should re-read. Consumes the pending wake-up.
        Bound a shorter wait with ``asyncio.timeout``.
        """
        try:
            async with asyncio.timeout(self._fallback_interval):
                await self._woken.wait()
        except TimeoutError:
            return False
        self._woken.clear()
        return True


class EventFeed:
    """This process's LISTEN connection on the run event channel.

    ``start()`` opens the connection (raising if the database cannot be
    reached) and starts the one task that reads notifications; ``stop()``
    cancels and awaits it and closes the connection. While running, a
    dropped connection is re-opened with backoff, and once it listens again
    every subscriber is woken. Subscribing works at any time, also before
    ``start()`` and after ``stop()``: readers then rely on the fallback
    interval alone.
    """

    def __init__(
        self,
        database_url: str,
        *,
        fallback_interval: float = DEFAULT_FALLBACK_INTERVAL,
        health_interval: float = DEFAULT_HEALTH_INTERVAL,
        reconnect_delays: Sequence[float] = DEFAULT_RECONNECT_DELAYS,
        application_name: str = "ccplane-event-feed",
    ) -> None:
        if fallback_interval <= 0:
            raise ValueError("fallback_interval must be positive")
        if not reconnect_delays:
            raise ValueError("reconnect_delays must not be empty")
        self._conninfo = listen_conninfo(database_url)
        self._application_name = application_name
        self.fallback_interval = fallback_interval
        self._health_interval = health_interval
        self._reconnect_delays = tuple(reconnect_delays)
        self._subscribers: dict[str, set[RunWakeup]] = {}
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._connects = 0
        # Set (and replaced) whenever the connection state changes.
        self._state_changed = asyncio.Event()
        # Set (and replaced) whenever a reader subscribes or leaves.
        self._readers_changed = asyncio.Event()

    # --- subscribers ---------------------------------------------------------

    @contextlib.contextmanager
    def subscribe(self, run_id: str) -> Iterator[RunWakeup]:
        """Wake-ups for ``run_id`` for the duration of the ``with`` block."""
        wakeup = RunWakeup(run_id, self.fallback_interval)
        self._subscribers.setdefault(run_id, set()).add(wakeup)
        self._readers_moved()
        try:
            yield wakeup
        finally:
            subscribers = self._subscribers.get(run_id)
            if subscribers is not None:
                subscribers.discard(wakeup)
                if not subscribers:
                    del self._subscribers[run_id]
            self._readers_moved()

    def wake(self, run_id: str) -> None:
        """Wake this process's readers of ``run_id`` (done for every notification)."""
        for wakeup in self._subscribers.get(run_id, ()):
            wakeup.wake()

    def wake_all(self) -> None:
        """Wake every reader, so that each re-reads what it may have missed."""
        for subscribers in self._subscribers.values():
            for wakeup in subscribers:
                wakeup.wake()

    # --- state, for health checks and tests -----------------------------------

    @property
    def subscribers(self) -> int:
        """How many readers this process has, over every run."""
        return sum(len(s) for s in self._subscribers.values())

    def readers(self, run_id: str) -> int:
        """How many readers of ``run_id`` this process has (a stream that ended or was dropped has left)."""
        return len(self._subscribers.get(run_id, ()))

    async def wait_readers(self, run_id: str, count: int) -> None:
        """Return once ``run_id`` has ``count`` readers here; bound it with ``asyncio.timeout``."""
        while self.readers(run_id) != count:
            await self._readers_changed.wait()

    @property
    def listening(self) -> bool:
        return self._conn is not None

    @property
    def backend_pid(self) -> int | None:
        """PostgreSQL backend pid of the LISTEN connection, None while not listening."""
        return None if self._conn is None else self._conn.info.backend_pid

    @property
    def connects(self) -> int:
        """How many times a LISTEN connection was established."""
        return self._connects

    async def wait_listening(self, *, connects: int = 1) -> None:
        """Return once listening on at least the ``connects``-th connection."""
        while not (self.listening and self._connects >= connects):
            await self._state_changed.wait()

    # --- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the event feed is already running")
        conn = await self._connect()
        self._listening_on(conn)
        self._task = asyncio.create_task(self._run(conn), name="event-feed-listener")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._lost()
        # Readers re-read once more; from now on they poll at the fallback interval.
        self.wake_all()

    # --- the listener task -------------------------------------------------------

    async def _run(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        while True:
            try:
                await self._pump(conn)
            except Exception as exc:  # any failure: drop the connection and listen again
                log.warning("event feed connection lost; reconnecting", extra={"error": str(exc)})
            finally:
                await self._lost()
            conn = await self._reconnect()

    async def _pump(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        while True:
            async for notify in conn.notifies(timeout=self._health_interval):
                self.wake(notify.payload)
            # Quiet for a while: make sure the connection is still there.
            async with asyncio.timeout(_HEALTH_TIMEOUT):
                await conn.execute("SELECT 1")

    async def _reconnect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        attempt = 0
        while True:
            await asyncio.sleep(self._reconnect_delays[min(attempt, len(self._reconnect_delays) - 1)])
            attempt += 1
            try:
                conn = await self._connect()
            except Exception as exc:  # keep trying: a dead listener would leave readers polling
                log.warning("event feed cannot reconnect", extra={"error": str(exc), "attempt": str(attempt)})
                continue
            self._listening_on(conn)
            return conn

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        conn = await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            application_name=self._application_name,
            connect_timeout=_CONNECT_TIMEOUT_S,
            # Find out about a silently dead peer without waiting for TCP's hours.
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )
        try:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)))
        except BaseException:
            await conn.close()
            raise
        return conn

    def _listening_on(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        # Synchronous: no cancellation can leave the new connection unowned.
        self._conn = conn
        self._connects += 1
        self._changed()
        # Notifications sent while we were not listening are gone: re-read everything.
        self.wake_all()

    async def _lost(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._changed()
            with contextlib.suppress(Exception):
                await conn.close()

    def _changed(self) -> None:
        changed, self._state_changed = self._state_changed, asyncio.Event()
        changed.set()

    def _readers_moved(self) -> None:
        moved, self._readers_changed = self._readers_changed, asyncio.Event()
        moved.set()
