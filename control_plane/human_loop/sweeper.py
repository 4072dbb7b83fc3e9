"""Expiring human-loop requests nobody answered in time, periodically.

Any number of control-plane processes may sweep at once: expiry is a
conditional update under the run's lock, so each request expires once.
``ReconcileService.ExpireHumanLoopRequests`` calls :meth:`ExpirySweeper.sweep_once`
to expire now instead of at the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from common.db.engine import Database
from common.db.errors import is_unavailable
from control_plane.human_loop import store
from control_plane.human_loop.records import HumanLoopRecord

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 5.0


class ExpirySweeper:
    """One owned task that calls :meth:`sweep_once` every ``interval_s`` seconds."""

    def __init__(
        self,
        db: Database,
        interval_s: float = DEFAULT_INTERVAL_S,
        *,
        on_expired: Callable[[HumanLoopRecord], None] | None = None,
    ) -> None:
        """``on_expired`` hears of each request this sweeper expired."""
        self._db = db
        self._on_expired = on_expired
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def sweep_once(self) -> list[HumanLoopRecord]:
        """Expire every request past its deadline (in batches); return them."""
        expired: list[HumanLoopRecord] = []
        while True:
            async with self._db.session() as session, session.begin():
                batch = await store.expire_due(session)
            expired += batch
            if self._on_expired is not None:
                for record in batch:
                    self._on_expired(record)
            if len(batch) < store.EXPIRE_BATCH:
                return expired

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="human-loop-expiry-sweeper")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                expired = await self.sweep_once()
                if expired:
                    log.info("human-loop requests expired", extra={"count": len(expired)})
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_unavailable(exc):
                    log.warning("human-loop expiry sweep: the database is unavailable; retrying")
                else:
                    log.exception("human-loop expiry sweep failed")
            await asyncio.sleep(self._interval_s)
