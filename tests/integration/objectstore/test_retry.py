"""The S3 backend's retries against a real S3 server that goes away.

moto's S3 server runs in this process (:class:`OutageMotoServer`) so that it
can be stopped — its port closed, every connection cut — and started again
with its objects intact. The store under test is the real aiobotocore
client over HTTP; only the retry policy is shortened.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from common.objectstore import (
    ObjectNotFoundError,
    ObjectStoreError,
    ObjectStoreUnavailableError,
    RetryNotice,
    RetryPolicy,
    S3ObjectStore,
    open_store,
    reporting_retries,
)
from tests.integration.objectstore.conftest import leftovers
from tests.integration.objectstore.moto_server import OutageMotoServer, new_s3_store, s3_credentials

MiB = 1024 * 1024
# Nominal waits 0.1, 0.2, 0.4, 0.5, 0.5, 0.5 s (2.2 s in all; at least half that).
POLICY = RetryPolicy(retries=6, max_delay_s=0.5, first_delay_s=0.1, timeout_s=5.0)
# Time a failing attempt itself takes on loopback, and scheduling noise.
SLACK_S = 3.0


@pytest.fixture(scope="module")
def server() -> Iterator[OutageMotoServer]:
    with s3_credentials():
        server = OutageMotoServer()
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def store(server: OutageMotoServer) -> AsyncIterator[S3ObjectStore]:
    server.start()  # up again after a test that left it down
    opened = await new_s3_store(server.endpoint, retry=POLICY)
    try:
        yield opened
    finally:
        server.start()
        await opened.close()


class Outage:
    """Takes the server down; brings it back at the first retry, so that the
    request under test must have waited and tried again."""

    def __init__(self, server: OutageMotoServer) -> None:
        self.server = server
        self.notices: list[RetryNotice] = []
        self._retrying = asyncio.Event()
        self._back: asyncio.Task[None] | None = None

    def listener(self, notice: RetryNotice) -> None:
        self.notices.append(notice)
        self._retrying.set()

    async def _bring_back(self) -> None:
        await self._retrying.wait()
        await asyncio.to_thread(self.server.start)

    @contextlib.asynccontextmanager
    async def brief(self) -> AsyncIterator[None]:
        """Down now, back at the first retry of a request made in the block."""
        await asyncio.to_thread(self.server.stop)
        self._back = asyncio.create_task(self._bring_back())
        try:
            with reporting_retries(self.listener):
                yield
        finally:
            self._back.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._back
            await asyncio.to_thread(self.server.start)


async def test_a_request_waits_out_a_short_outage(store: S3ObjectStore, server: OutageMotoServer) -> None:
    await store.put_bytes("blobs/a", b"before")
    outage = Outage(server)
    async with outage.brief():
        await store.put_bytes("blobs/b", b"during")
    assert outage.notices, "the write met the outage and was retried"
    first = outage.notices[0]
    assert first.what == "PutObject 'blobs/b'" and first.attempt == 1 and first.attempts == 7
    assert first.error.startswith("Could not connect to the endpoint URL: ") and "/blobs/b" in first.error
    assert await store.get_bytes("blobs/a") == b"before", "the store kept what it had"
    assert await store.get_bytes("blobs/b") == b"during"


async def test_a_store_that_stays_down_fails_within_the_budget(
    store: S3ObjectStore, server: OutageMotoServer
) -> None:
    await store.put_bytes("blobs/kept", b"kept")
    notices: list[RetryNotice] = []
    await asyncio.to_thread(server.stop)
    started = time.monotonic()
    with reporting_retries(notices.append), pytest.raises(ObjectStoreUnavailableError) as failed:
        await store.get_bytes("blobs/kept")
    elapsed = time.monotonic() - started
    assert failed.value.attempts == POLICY.retries + 1
    assert [n.attempt for n in notices] == list(range(1, POLICY.retries + 1))
    assert POLICY.max_wait_s / 2 <= elapsed <= POLICY.max_wait_s + SLACK_S, elapsed
    assert str(failed.value).startswith("the object store is unreachable: Could not connect to the endpoint")
    assert "(gave up after 7 attempts over " in str(failed.value)

    # Once it is back, the same client works again, with nothing lost.
    await asyncio.to_thread(server.start)
    assert await store.get_bytes("blobs/kept") == b"kept"


async def test_nothing_listening_is_retried_then_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with s3_credentials():
        store = open_store(f"s3://nowhere?endpoint=http://127.0.0.1:{port}", retry=POLICY)
        try:
            started = time.monotonic()
            with pytest.raises(ObjectStoreUnavailableError) as failed:
                await store.head("blobs/x")
            assert time.monotonic() - started <= POLICY.max_wait_s + SLACK_S
        finally:
            await store.close()
    assert failed.value.attempts == POLICY.retries + 1


async def test_refusals_are_not_retried(store: S3ObjectStore, server: OutageMotoServer) -> None:
    notices: list[RetryNotice] = []
    with reporting_retries(notices.append):
        with pytest.raises(ObjectNotFoundError):
            await store.get_bytes("blobs/missing")
        assert await store.head("blobs/missing") is None

        no_bucket = open_store(f"s3://no-such-bucket-{secrets.token_hex(4)}?endpoint={server.endpoint}")
        try:
            with pytest.raises(ObjectStoreError) as refused:
                await no_bucket.put_bytes("blobs/x", b"x")
            assert not isinstance(refused.value, ObjectStoreUnavailableError)
            assert "NoSuchBucket" in str(refused.value)
        finally:
            await no_bucket.close()

        # A bad request: S3 refuses to copy an object onto itself unchanged (400).
        await store.put_bytes("blobs/self", b"self")
        with pytest.raises(ObjectStoreError) as bad_request:
            await store.copy("blobs/self", "blobs/self")
        assert not isinstance(bad_request.value, ObjectStoreUnavailableError)
    assert notices == [], "a refusal is final"


async def test_a_multipart_upload_retries_the_part_that_failed(
    store: S3ObjectStore, server: OutageMotoServer
) -> None:
    first, rest = os.urandom(5 * MiB), os.urandom(2 * MiB + 17)
    outage = Outage(server)

    async def chunks() -> AsyncIterator[bytes]:
        yield first
        # The first part is on its way; the second meets the outage.
        async with outage.brief():
            yield rest

    info = await store.put_stream("blobs/big", chunks())
    assert info.size == len(first) + len(rest)
    assert outage.notices and outage.notices[0].what.startswith("UploadPart")
    assert await store.get_bytes("blobs/big") == first + rest
    assert await leftovers(store) == [], "no multipart upload left pending"


async def test_a_download_cut_off_resumes_where_it_stopped(
    store: S3ObjectStore, server: OutageMotoServer
) -> None:
    data = os.urandom(48 * MiB)
    await store.put_bytes("blobs/long", data)
    outage = Outage(server)
    received = bytearray()
    stream = store.get_stream("blobs/long", chunk_size=64 * 1024)
    async with contextlib.aclosing(stream):
        received += await anext(stream)
        async with outage.brief():
            async for chunk in stream:
                received += chunk
    assert outage.notices, "the download was cut off and resumed"
    assert outage.notices[0].what == "GetObject 'blobs/long'"
    assert bytes(received) == data, "every byte once, in order"


async def test_listing_waits_out_a_short_outage(store: S3ObjectStore, server: OutageMotoServer) -> None:
    for name in ("a", "b", "c"):
        await store.put_bytes(f"threads/t1/{name}", name.encode())
    outage = Outage(server)
    async with outage.brief():
        keys = [info.key async for info in store.list("threads/t1/")]
    assert outage.notices
    assert keys == ["threads/t1/a", "threads/t1/b", "threads/t1/c"]
