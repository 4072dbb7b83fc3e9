"""Running a workspace's transfers side by side, as one operation.

A restore downloads, and a sync uploads, several blobs at a time. When one
transfer fails for good (the object store stayed unreachable past its
retries), the others are cancelled and that failure is raised: nothing
keeps running, or reporting retries, behind an operation that already
failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def for_each(items: Iterable[T], action: Callable[[T], Awaitable[object]], *, concurrency: int) -> None:
    """``await action(item)`` for every item, at most ``concurrency`` at a
    time; the first failure cancels the rest and is raised as itself."""
    limit = asyncio.Semaphore(concurrency)

    async def one(item: T) -> None:
        async with limit:
            await action(item)

    try:
        async with asyncio.TaskGroup() as group:
            for item in items:
                group.create_task(one(item))
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
