"""The contract every object store backend passes (``local`` and ``s3`` on
moto's server through aiobotocore); see ``common/objectstore/base.py``."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.objectstore import ObjectNotFoundError, ObjectStore, ObjectStoreError
from tests.integration.objectstore.conftest import LeftoversFn

MiB = 1024 * 1024


async def chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def collect(store: ObjectStore, prefix: str = "") -> list[tuple[str, int]]:
    return [(info.key, info.size) async for info in store.list(prefix)]


async def test_put_get_head_delete(store: ObjectStore) -> None:
    info = await store.put_bytes("blobs/abc", b"hello")
    assert (info.key, info.size) == ("blobs/abc", 5)
    assert await store.get_bytes("blobs/abc") == b"hello"
    head = await store.head("blobs/abc")
    assert head is not None and head.size == 5
    assert await store.exists("blobs/abc")

    await store.put_bytes("blobs/abc", b"replaced")
    assert await store.get_bytes("blobs/abc") == b"replaced"

    await store.delete("blobs/abc")
    assert await store.head("blobs/abc") is None
    assert not await store.exists("blobs/abc")
    await store.delete("blobs/abc")  # deleting a missing key is fine


async def test_missing_objects(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFoundError):
        await store.get_bytes("nope/x")
    with pytest.raises(ObjectNotFoundError):
        async for _ in store.get_stream("nope/x"):
            pass
    target = tmp_path / "out" / "x"
    with pytest.raises(ObjectNotFoundError):
        await store.get_file("nope/x", target)
    assert not target.exists()
    assert list(target.parent.iterdir()) == [] if target.parent.exists() else True
    with pytest.raises(ObjectNotFoundError):
        await store.copy("nope/x", "nope/y")
    assert await store.head("nope/x") is None


async def test_streamed_put_spanning_several_parts(store: ObjectStore, store_leftovers: LeftoversFn) -> None:
    data = os.urandom(12 * MiB + 12345)  # three 5 MiB S3 parts, the last one short
    info = await store.put_stream("big/one", chunks_of(data, 777_777))
    assert info.size == len(data)
    head = await store.head("big/one")
    assert head is not None and head.size == len(data)

    digest = hashlib.sha256()
    largest = 0
    async for chunk in store.get_stream("big/one", chunk_size=MiB):
        digest.update(chunk)
        largest = max(largest, len(chunk))
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert largest <= MiB, "reads are streamed in bounded chunks"
    assert await store_leftovers(store) == []


async def test_empty_object(store: ObjectStore) -> None:
    async def nothing() -> AsyncIterator[bytes]:
        return
        yield b""

    info = await store.put_stream("empty/one", nothing())
    assert info.size == 0
    assert await store.get_bytes("empty/one") == b""


async def test_files_both_ways(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(6 * MiB + 1))
    info = await store.put_file("files/source.bin", source)
    assert info.size == source.stat().st_size

    target = tmp_path / "deep" / "dir" / "copy.bin"
    got = await store.get_file("files/source.bin", target)
    assert got.size == source.stat().st_size
    assert target.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in target.parent.iterdir()) == ["copy.bin"], "no temporary files remain"


async def test_failed_stream_leaves_nothing(store: ObjectStore, store_leftovers: LeftoversFn) -> None:
    async def breaks_after(total: int) -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            yield b"x" * MiB
            sent += MiB
        raise ConnectionResetError("client went away")

    for total in (2 * MiB, 11 * MiB):  # before and after the first multipart part
        with pytest.raises(ConnectionResetError):
            await store.put_stream("partial/obj", breaks_after(total))
        assert await store.head("partial/obj") is None
    assert await collect(store, "partial/") == []
    assert await store_leftovers(store) == []


async def test_cancelled_stream_leaves_nothing(store: ObjectStore, store_leftovers: LeftoversFn) -> None:
    sent = asyncio.Event()
    never = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        for _ in range(7):
            yield b"y" * MiB
        sent.set()
        await never.wait()
        yield b"never"

    task = asyncio.create_task(store.put_stream("partial/cancelled", stalls()))
    await asyncio.wait_for(sent.wait(), 10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert await store.head("partial/cancelled") is None
    assert await store_leftovers(store) == []


async def test_list_by_prefix_in_key_order(store: ObjectStore) -> None:
    keys = ["m/ws_a/1.json", "m/ws_a/10.json", "m/ws_a/2.json", "m/ws_ab/1.json", "m/zz", "n/other"]
    for key in reversed(keys):
        await store.put_bytes(key, key.encode())
    assert [k for k, _ in await collect(store, "m/ws_a/")] == [
        "m/ws_a/1.json",
        "m/ws_a/10.json",
        "m/ws_a/2.json",
    ]
    assert [k for k, _ in await collect(store, "m/ws_a/1")] == ["m/ws_a/1.json", "m/ws_a/10.json"]
    assert [k for k, _ in await collect(store, "m/ws_a")] == [
        "m/ws_a/1.json",
        "m/ws_a/10.json",
        "m/ws_a/2.json",
        "m/ws_ab/1.json",
    ]
    assert [k for k, _ in await collect(store, "")] == sorted(keys)
    assert await collect(store, "missing/") == []
    assert dict(await collect(store, "n/")) == {"n/other": len(b"n/other")}


async def test_copy_and_move(store: ObjectStore) -> None:
    await store.put_bytes("uploads/u1", b"payload")
    copied = await store.copy("uploads/u1", "blobs/b1")
    assert copied.size == 7
    assert await store.get_bytes("blobs/b1") == b"payload"
    assert await store.get_bytes("uploads/u1") == b"payload"

    moved = await store.move("uploads/u1", "blobs/b2")
    assert moved.size == 7
    assert await store.get_bytes("blobs/b2") == b"payload"
    assert await store.head("uploads/u1") is None
    assert await collect(store, "uploads/") == []


async def test_get_bytes_limit(store: ObjectStore) -> None:
    await store.put_bytes("limited/x", b"0123456789")
    assert await store.get_bytes("limited/x", max_size=10) == b"0123456789"
    with pytest.raises(ObjectStoreError):
        await store.get_bytes("limited/x", max_size=9)


async def test_keys_are_checked(store: ObjectStore) -> None:
    bad = ["", "/abs", "a//b", "a/../b", "..", "./a", "a/./b", "a\\b", "a\0b", "trailing/", "ctl\nkey"]
    for key in bad:
        with pytest.raises(ValueError):
            await store.put_bytes(key, b"x")
        with pytest.raises(ValueError):
            await store.head(key)
    with pytest.raises(ValueError):
        async for _ in store.list("../"):
            pass


async def test_unicode_keys(store: ObjectStore) -> None:
    await store.put_bytes("threads/t1/sessions/é ü/rollout.jsonl", b"{}")
    assert await store.get_bytes("threads/t1/sessions/é ü/rollout.jsonl") == b"{}"
    assert [k for k, _ in await collect(store, "threads/t1/")] == ["threads/t1/sessions/é ü/rollout.jsonl"]


async def test_concurrent_puts_never_mix(store: ObjectStore) -> None:
    bodies = [bytes([i]) * (6 * MiB) for i in range(3)]
    await asyncio.gather(*(store.put_stream("race/key", chunks_of(b, MiB)) for b in bodies))
    assert await store.get_bytes("race/key") in bodies
