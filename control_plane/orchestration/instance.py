"""This control-plane process's identity, and whether other processes live.

Each process holds a session-level PostgreSQL advisory lock derived from its
id for as long as it runs, on a connection of its own. When the process dies
its connection closes and PostgreSQL drops the lock at once, so another
process can tell a dead owner from a live one immediately and adopt its runs
(no heartbeat timeout to wait out).
"""

from __future__ import annotations

import hashlib
import logging

import psycopg

from common import ids
from common.db.engine import normalize_url

log = logging.getLogger(__name__)

# First key of the two-int advisory-lock space, so ours cannot collide with
# locks taken by other code (migrations use the one-key form).
_LOCK_CLASS = 0x43435031  # "CCP1"


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

    async def start(self) -> None:
        self._conn = await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, application_name=f"ccplane-liveness-{self.id}"
        )
        await self._conn.execute("SELECT pg_advisory_lock(%s, %s)", (_LOCK_CLASS, _lock_key(self.id)))
        log.info("control-plane instance started", extra={"instance_id": self.id})

    async def stop(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def is_alive(self, instance_id: str) -> bool:
        """True when the process ``instance_id`` still holds its lock."""
        if instance_id == self.id:
            return True
        assert self._conn is not None, "instance not started"
        key = _lock_key(instance_id)
        cur = await self._conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (_LOCK_CLASS, key))
        row = await cur.fetchone()
        acquired = bool(row and row[0])
        if acquired:
            await self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", (_LOCK_CLASS, key))
        return not acquired
