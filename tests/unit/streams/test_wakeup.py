"""EventFeed's subscriptions and wake-ups, without a database (the feed is never started)."""

from __future__ import annotations

import asyncio

import pytest
from psycopg.conninfo import conninfo_to_dict

from control_plane.events.feed import EventFeed, listen_conninfo

URL = "postgresql+psycopg://ccplane@127.0.0.1:5432/ccplane"
TIMEOUT = 5.0


def test_listen_conninfo_is_a_libpq_uri() -> None:
    assert listen_conninfo(URL) == "postgresql://ccplane@127.0.0.1:5432/ccplane"
    assert listen_conninfo("postgres://u:p%40ss@h/db") == "postgresql://u:p%40ss@h/db"
    # A Unix-socket directory (pgserver's form) survives, percent-encoded.
    socket = conninfo_to_dict(listen_conninfo("postgresql+psycopg://u@/db?host=/tmp/pg"))
    assert socket == {"user": "u", "dbname": "db", "host": "/tmp/pg"}
    with pytest.raises(ValueError, match="PostgreSQL"):
        listen_conninfo("sqlite:///x.db")


async def test_a_wake_up_before_the_wait_is_not_lost() -> None:
    feed = EventFeed(URL, fallback_interval=60)
    with feed.subscribe("run_a") as wakeup:
        assert not wakeup.woken
        feed.wake("run_a")  # arrives while the reader is busy reading
        assert wakeup.woken
        async with asyncio.timeout(TIMEOUT):
            assert await wakeup.wait()
        assert not wakeup.woken, "a wait consumes the wake-up"


async def test_wake_ups_reach_only_the_runs_readers() -> None:
    feed = EventFeed(URL, fallback_interval=60)
    with (
        feed.subscribe("run_a") as first,
        feed.subscribe("run_a") as second,
        feed.subscribe("run_b") as other,
    ):
        feed.wake("run_a")
        feed.wake("run_unwatched")
        assert (first.woken, second.woken, other.woken) == (True, True, False)
        feed.wake_all()
        assert other.woken


async def test_a_waiting_reader_is_woken() -> None:
    feed = EventFeed(URL, fallback_interval=60)
    with feed.subscribe("run_a") as wakeup:
        async with asyncio.timeout(TIMEOUT), asyncio.TaskGroup() as tasks:
            waiting = tasks.create_task(wakeup.wait())
            # Runs after the task's first step, which leaves it waiting.
            asyncio.get_running_loop().call_soon(feed.wake, "run_a")
        assert waiting.result() is True


async def test_wait_gives_up_after_the_fallback_interval() -> None:
    feed = EventFeed(URL, fallback_interval=0.01)
    with feed.subscribe("run_a") as wakeup:
        async with asyncio.timeout(TIMEOUT):
            assert await wakeup.wait() is False


async def test_leaving_the_block_unsubscribes() -> None:
    feed = EventFeed(URL, fallback_interval=60)
    with feed.subscribe("run_a") as wakeup:
        pass
    feed.wake("run_a")
    assert not wakeup.woken


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="fallback_interval"):
        EventFeed(URL, fallback_interval=0)
    with pytest.raises(ValueError, match="reconnect_delays"):
        EventFeed(URL, reconnect_delays=())


async def test_readers_are_counted_per_run_and_can_be_waited_for() -> None:
    feed = EventFeed(URL, fallback_interval=60)
    assert feed.readers("run_a") == 0
    with feed.subscribe("run_a"), feed.subscribe("run_b"):
        left = asyncio.ensure_future(feed.wait_readers("run_a", 0))
        with feed.subscribe("run_a"):
            assert (feed.readers("run_a"), feed.readers("run_b")) == (2, 1)
        assert feed.readers("run_a") == 1
        await asyncio.sleep(0)  # the waiter looks: one reader is left
        assert not left.done()
    async with asyncio.timeout(TIMEOUT):
        await left  # the last reader of run_a left
    assert feed.readers("run_b") == 0
