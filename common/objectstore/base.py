"""The object store interface every backend implements.

An object store maps keys (``blobs/<sha256>``, ``manifests/<ws>/<v>.json``)
to immutable-looking byte strings. Backends: a local directory
(:mod:`common.objectstore.local`) and S3-compatible services
(:mod:`common.objectstore.s3`). Both pass the same contract suite
(``tests/integration/objectstore/test_contract.py``).

Contract, for every backend:

- A ``put_*`` is atomic: readers see the old object or the new one, never a
  part. A put that fails or is cancelled before it completes leaves no
  object (and, for S3, no pending multipart upload).
- Large objects are streamed both ways; no method buffers a whole object
  except ``put_bytes``/``get_bytes``, which callers use for small objects.
- Missing objects raise :class:`ObjectNotFoundError` on reads; ``head``
  returns ``None``; ``delete`` of a missing key is not an error.
- A store that cannot be reached raises :class:`ObjectStoreUnavailableError`
  (after the backend's retries, see :mod:`common.objectstore.retry`); any
  other failure is a plain :class:`ObjectStoreError` and is never retried.
- ``list(prefix)`` yields objects in key order.
- Keys are checked by :func:`check_key` (relative, ``/``-separated, no
  ``.``/``..``/empty segments): a bad key is a programming error
  (``ValueError``), never a path outside the store.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

DEFAULT_CHUNK_SIZE = 1024 * 1024
MAX_KEY_BYTES = 1024


class ObjectStoreError(Exception):
    """The store failed (unreachable, misconfigured, refused the request)."""


class ObjectStoreUnavailableError(ObjectStoreError):
    """The store could not be reached or answered that it is struggling
    (connection refused or reset, a timeout, a 5xx answer, throttling): a
    failure that may pass. Backends raise it for one failed attempt; once
    retries are used up (:mod:`common.objectstore.retry`) it says how many
    attempts were made over how long."""

    def __init__(self, message: str, *, attempts: int = 1, elapsed_s: float = 0.0) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.elapsed_s = elapsed_s


class ObjectNotFoundError(ObjectStoreError, KeyError):
    """No object under that key."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"no object {self.key!r}"


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime | None = None


def check_key(key: str) -> str:
    """Return ``key`` when it is a well-formed object key, else raise ``ValueError``."""
    if not isinstance(key, str) or not key:
        raise ValueError("object key must be a non-empty string")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise ValueError(f"object key longer than {MAX_KEY_BYTES} bytes")
    if key.startswith("/") or "\\" in key or any(ord(c) < 0x20 or c == "\x7f" for c in key):
        raise ValueError(f"invalid object key {key!r}")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"invalid object key {key!r}: empty, '.' or '..' segment")
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key possibly ending with ``/``."""
    if prefix:
        check_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


class ObjectStore(abc.ABC):
    """Async access to one bucket/prefix or directory of objects."""

    #: A description of where objects live, without credentials.
    location: str = ""

    @abc.abstractmethod
    async def put_stream(self, key: str, chunks: AsyncIterable[bytes]) -> ObjectInfo:
        """Store the concatenation of ``chunks`` under ``key``, streaming."""

    async def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        async def one() -> AsyncIterator[bytes]:
            yield data

        return await self.put_stream(key, one())

    async def put_file(self, key: str, path: Path, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> ObjectInfo:
        """Store the content of a local file, streaming it."""
        return await self.put_stream(key, read_file_chunks(path, chunk_size))

    @abc.abstractmethod
    def get_stream(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncGenerator[bytes, None]:
        """The object's content in chunks; raises ObjectNotFoundError when
        iterated if the key is missing. Close it (``contextlib.aclosing``)
        when not reading to the end."""

    async def get_bytes(self, key: str, *, max_size: int | None = None) -> bytes:
        """The whole object; ``ObjectStoreError`` when larger than ``max_size``."""
        parts: list[bytes] = []
        total = 0
        async with contextlib.aclosing(self.get_stream(key)) as stream:
            async for chunk in stream:
                total += len(chunk)
                if max_size is not None and total > max_size:
                    raise ObjectStoreError(f"object {key!r} is larger than {max_size} bytes")
                parts.append(chunk)
        return b"".join(parts)

    async def get_file(self, key: str, path: Path) -> ObjectInfo:
        """Download to ``path`` atomically (temporary file next to it, then rename)."""
        path = Path(path)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
        size = 0
        # Opened on the loop: a cancellation while a thread opens it would leave it behind.
        handle = open(tmp, "wb")  # noqa: ASYNC230, SIM115 - closed below
        try:
            async with contextlib.aclosing(self.get_stream(key)) as stream:
                async for chunk in stream:
                    await asyncio.to_thread(handle.write, chunk)
                    size += len(chunk)
            await asyncio.to_thread(handle.close)
            await asyncio.to_thread(os.replace, tmp, path)
        except BaseException:
            handle.close()
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return ObjectInfo(key=key, size=size)

    @abc.abstractmethod
    async def head(self, key: str) -> ObjectInfo | None:
        """The object's metadata, or None when it does not exist."""

    async def exists(self, key: str) -> bool:
        return await self.head(key) is not None

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the object; nothing happens when it does not exist."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> AsyncGenerator[ObjectInfo, None]:
        """Objects whose key starts with ``prefix``, in key order."""

    @abc.abstractmethod
    async def copy(self, src: str, dest: str) -> ObjectInfo:
        """Copy an object inside the store (server-side where possible)."""

    async def move(self, src: str, dest: str) -> ObjectInfo:
        """Rename an object: ``dest`` appears atomically, then ``src`` goes."""
        info = await self.copy(src, dest)
        await self.delete(src)
        return info

    async def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release connections. The store is unusable afterwards."""


async def read_file_chunks(path: Path, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
    """A local file's content in chunks, read off the event loop."""
    handle = open(path, "rb")  # noqa: ASYNC230, SIM115 - closed below, even when cancelled
    try:
        while chunk := await asyncio.to_thread(handle.read, chunk_size):
            yield chunk
    finally:
        handle.close()
