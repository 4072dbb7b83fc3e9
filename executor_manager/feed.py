"""Lease changes for watchers (WatchLeases), from PostgreSQL notifications.

Every lease change is announced with ``pg_notify`` in the transaction that
makes it (:mod:`.leases`). The feed LISTENs on one connection of its own and,
for each notification, re-reads the lease (the table is the truth; the
notification only says which lease changed and how) and hands the event to
every subscriber. So a watcher on any manager replica hears of every change,
once it is committed.

A subscriber that falls too far behind, or that was subscribed while the
LISTEN connection was lost, has its stream ended with an error: it may have
missed changes, and must subscribe again and reconcile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from common.db.engine import Database
from common.errors import ServiceError, aborted, unavailable
from executor_manager import leases
from executor_manager.records import LeaseChange, LeaseEvent
from executor_manager.signals import ChangeSignal

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 1024


class LeaseSubscription:
    """The events of one watcher, in commit order. Iterate with ``async for``."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._events: deque[LeaseEvent] = deque()
        self._wake = asyncio.Event()
        self._ended = False
        self._error: ServiceError | None = None

    def push(self, event: LeaseEvent) -> None:
        if self._ended:
            return
        if len(self._events) >= self._capacity:
            self._events.clear()
            self.end(aborted("WATCH_OVERFLOW", "lease watcher fell behind; subscribe again"))
            return
        self._events.append(event)
        self._wake.set()

    def end(self, error: ServiceError | None = None) -> None:
        """No more events; after the buffered ones (none when ``error``), stop or raise ``error``."""
        if self._ended:
            return
        self._ended = True
        self._error = error
        if error is not None:
            self._events.clear()
        self._wake.set()

    def __aiter__(self) -> AsyncIterator[LeaseEvent]:
        return self

    async def __anext__(self) -> LeaseEvent:
        while not self._events:
            if self._ended:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._wake.clear()
            await self._wake.wait()
        return self._events.popleft()


class LeaseFeed:
    """Fans lease notifications out to subscribers; owns one LISTEN task."""

    def __init__(
        self, db: Database, *, capacity: int = DEFAULT_CAPACITY, reconnect_delay: float = 1.0
    ) -> None:
        self._db = db
        self._url = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._capacity = capacity
        self._reconnect_delay = reconnect_delay
        self._subscribers: set[LeaseSubscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._flushes: dict[str, asyncio.Future[None]] = {}
        self.subscribers_changed = ChangeSignal()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def start(self) -> None:
        """Start listening; returns once the LISTEN is in place."""
        connection = await self._connect()
        self._task = asyncio.create_task(self._listen(connection), name="lease-feed")

    async def stop(self) -> None:
        """Stop listening and end every subscriber's stream (cleanly)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for subscriber in list(self._subscribers):
            subscriber.end()
        self._subscribers.clear()
        self.subscribers_changed.notify()

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[LeaseSubscription]:
        """Events committed from now on, until the feed stops or the block exits."""
        subscription = LeaseSubscription(self._capacity)
        self._subscribers.add(subscription)
        self.subscribers_changed.notify()
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)
            self.subscribers_changed.notify()

    async def flush(self) -> None:
        """Wait until every change committed before this call has been handed
        to subscribers (notifications arrive in commit order). Bound it with
        ``asyncio.timeout``."""
        token = secrets.token_hex(8)
        done = asyncio.get_running_loop().create_future()
        self._flushes[token] = done
        try:
            async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                await conn.execute(
                    "SELECT pg_notify(%s, %s)", (leases.NOTIFY_CHANNEL, json.dumps({"flush": token}))
                )
            await done
        finally:
            self._flushes.pop(token, None)

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        connection = await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, application_name="ccplane-executor-manager-feed"
        )
        await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(leases.NOTIFY_CHANNEL)))
        return connection

    async def _listen(self, connection: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        while True:
            try:
                async for notification in connection.notifies():
                    try:
                        await self._deliver(notification.payload)
                    except Exception:
                        log.exception("cannot deliver a lease notification")
            except psycopg.Error as exc:
                log.warning("lease feed lost its connection; reconnecting", extra={"error": str(exc)})
            finally:
                await connection.close()
            # Whoever listened meanwhile may have missed changes.
            for subscriber in list(self._subscribers):
                subscriber.end(
                    unavailable("LEASE_FEED_INTERRUPTED", "lease feed interrupted; subscribe again")
                )
            connection = await self._reconnect()

    async def _reconnect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        while True:
            await asyncio.sleep(self._reconnect_delay)
            try:
                return await self._connect()
            except psycopg.Error as exc:
                log.warning("lease feed cannot reconnect yet", extra={"error": str(exc)})

    async def _deliver(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            change = LeaseChange(message["change"]) if "change" in message else None
        except (ValueError, TypeError):
            log.warning("ignoring malformed lease notification", extra={"payload": payload[:200]})
            return
        if "flush" in message:
            waiter = self._flushes.get(str(message["flush"]))
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return
        if change is None or not self._subscribers:
            return
        async with self._db.session() as session:
            lease = await leases.get(session, str(message.get("lease_id", "")))
        if lease is None:
            return  # forgotten meanwhile
        event = LeaseEvent(change, lease)
        for subscriber in list(self._subscribers):
            subscriber.push(event)
