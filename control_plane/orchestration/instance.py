"""This control-plane process's identity, and whether other processes live.

Each process holds a session-level PostgreSQL advisory lock derived from its
id for as long as it runs, on a connection of its own. When the process dies
its connection closes and PostgreSQL drops the lock at once, so another
process can tell a dead owner from a live one immediately and adopt its runs
(no heartbeat timeout to wait out).

When the connection itself is lost (a database restart or failover) the
process reconnects, with backoff, and takes its lock again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging

import psycopg

from common import ids
from common.db.engine import normalize_url

log = logging.getLogger(__name__)

# First key of the two-int advisory-lock space, so ours cannot collide with
# locks taken by other code (migrations use the one-key form).
_LOCK_CLASS = 0x43435031  # "CCP1"
# How often the liveness connection is checked, and the reconnect backoff.
CHECK_INTERVAL_S = 2.0
RECONNECT_INITIAL_S = 0.25
RECONNECT_MAX_S = 4.0


def _lock_key(instance_id: str) -> int:
    return int.from_bytes(hashlib.sha256(instance_id.encode()).digest()[:4], "big", signed=True)


def libpq_url(url: str) -> str:
    return normalize_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


class Instance:
    """The liveness lock of one control-plane process."""

    def __init__(self, database_url: str, instance_id: str | None = None) -> None:
        self.id = instance_id or ids.new_id("cp")
        self._url = libpq_url(database_url)
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._lock = asyncio.Lock()
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._connect()
        self._watch = asyncio.create_task(self._keep_connected(), name="instance-liveness")
        log.info("control-plane instance started", extra={"instance_id": self.id})

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _connect(self) -> None:
        conn = await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, application_name=f"ccplane-liveness-{self.id}"
        )
        await conn.execute("SELECT pg_advisory_lock(%s, %s)", (_LOCK_CLASS, _lock_key(self.id)))
        self._conn = conn

    async def _keep_connected(self) -> None:
        """Notice a lost connection within seconds and take the lock again."""
        delay = RECONNECT_INITIAL_S
        while True:
            await asyncio.sleep(CHECK_INTERVAL_S if delay == RECONNECT_INITIAL_S else delay)
            try:
                async with self._lock:
                    if self._conn is None or self._conn.closed:
                        await self._connect()
                        log.info("liveness lock taken again", extra={"instance_id": self.id})
                    else:
                        await self._conn.execute("SELECT 1")
                delay = RECONNECT_INITIAL_S
            except psycopg.Error as exc:
                log.warning("liveness connection lost; reconnecting", extra={"error": str(exc)})
                if self._conn is not None:
                    await self._conn.close()
                self._conn = None
                delay = min(delay * 2, RECONNECT_MAX_S)

    async def is_alive(self, instance_id: str) -> bool:
        """True when the process ``instance_id`` still holds its lock.

        Raises ``psycopg.Error`` while the database cannot be reached."""
        if instance_id == self.id:
            return True
        key = _lock_key(instance_id)
        async with self._lock:
            if self._conn is None or self._conn.closed:
                raise psycopg.OperationalError("the liveness connection is being re-opened")
            cur = await self._conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (_LOCK_CLASS, key))
            row = await cur.fetchone()
            acquired = bool(row and row[0])
            if acquired:
                await self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", (_LOCK_CLASS, key))
        return not acquired
