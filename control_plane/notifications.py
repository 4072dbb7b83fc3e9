"""One LISTEN connection per process, fanning PostgreSQL notifications out.

Subscribers get a callback per notification on the channels they asked for.
The payload is only a hint of what changed (a run id): the tables are the
truth, and subscribers re-read them. When the connection drops it is
re-opened, and every subscriber is woken with payload ``None`` so that it
re-reads whatever it may have missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable

import psycopg
from psycopg import sql

from control_plane.orchestration.instance import libpq_url

log = logging.getLogger(__name__)

Callback = Callable[[str | None], None]


class Notifications:
    def __init__(self, database_url: str, channels: list[str], reconnect_delay: float = 0.5) -> None:
        self._url = libpq_url(database_url)
        self._channels = list(channels)
        self._subscribers: dict[str, list[Callback]] = defaultdict(list)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._reconnect_delay = reconnect_delay

    def subscribe(self, channel: str, callback: Callback) -> Callable[[], None]:
        """Call ``callback(payload)`` for each notification; returns an unsubscribe function."""
        if channel not in self._channels:
            raise ValueError(f"not listening on {channel!r}")
        self._subscribers[channel].append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers[channel].remove(callback)

        return unsubscribe

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="pg-notifications")
        await asyncio.wait_for(self._ready.wait(), 30)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _dispatch(self, channel: str, payload: str | None) -> None:
        for callback in list(self._subscribers.get(channel, ())):
            try:
                callback(payload)
            except Exception:
                log.exception("notification subscriber failed", extra={"channel": channel})

    async def _listen_forever(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, application_name="ccplane-listen"
                ) as conn:
                    for channel in self._channels:
                        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    self._ready.set()
                    # Anything may have happened while we were not listening.
                    for channel in self._channels:
                        self._dispatch(channel, None)
                    async for notify in conn.notifies():
                        self._dispatch(notify.channel, notify.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("notification connection lost; reconnecting", extra={"error": str(exc)})
                await asyncio.sleep(self._reconnect_delay)
