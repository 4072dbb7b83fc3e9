"""A wake-up for whoever waits for the fleet to change (the pool, tests, tools)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


class ChangeSignal:
    """``notify()`` wakes every current ``wait()``; it carries no content.

    Waiters re-read what they care about after waking (the database is the
    truth), so a notification may be spurious but is never lost.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self) -> None:
        await self._event.wait()

    async def wait_for(self, predicate: Callable[[], bool | Awaitable[bool]]) -> None:
        """Return once ``predicate()`` holds, checking it after every change.

        Bound the wait with ``asyncio.timeout``.
        """
        while True:
            # Take the event before checking, so that a change made while the
            # predicate runs still wakes us.
            event = self._event
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await event.wait()
