"""The object store as a local directory: the embedded default.

An object lives at ``<root>/<key>``. Writes go to a temporary file under
``<root>/.tmp`` (same filesystem), are flushed to disk, then renamed into
place, so a reader never sees a partial object and a crash leaves at most a
stray temporary file. Keys whose first segment is ``.tmp`` are refused.

A directory cannot be both an object and a prefix of another object's key
(``a`` and ``a/b``); the ccplane key layout never needs that.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import AsyncGenerator, AsyncIterable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from common.objectstore.base import (
    DEFAULT_CHUNK_SIZE,
    ObjectInfo,
    ObjectNotFoundError,
    ObjectStore,
    ObjectStoreError,
    check_key,
    check_prefix,
)

_TMP = ".tmp"


class LocalObjectStore(ObjectStore):
    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = Path(root).expanduser().resolve()
        self.location = self.root.as_uri()
        self._fsync = fsync
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / _TMP).mkdir(exist_ok=True)

    def _path(self, key: str) -> Path:
        check_key(key)
        if key.split("/", 1)[0] == _TMP:
            raise ValueError(f"object key {key!r} is reserved")
        return self.root / key

    def _info(self, key: str, path: Path) -> ObjectInfo:
        st = path.stat()
        return ObjectInfo(key=key, size=st.st_size, modified=datetime.fromtimestamp(st.st_mtime, UTC))

    # -- writes ---------------------------------------------------------------

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes]) -> ObjectInfo:
        dest = self._path(key)
        tmp = self.root / _TMP / secrets.token_hex(12)
        # Opened on the loop, not in a thread: a cancellation while a thread
        # opens the file would leave it behind.
        handle = open(tmp, "xb")  # noqa: ASYNC230, SIM115 - closed below
        try:
            async for chunk in chunks:
                if chunk:
                    await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(self._finish, handle, tmp, dest)
        except BaseException:
            handle.close()
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return await asyncio.to_thread(self._info, key, dest)

    async def put_file(self, key: str, path: Path, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> ObjectInfo:
        dest = self._path(key)
        tmp = self.root / _TMP / secrets.token_hex(12)

        def copy() -> None:
            try:
                shutil.copyfile(path, tmp)
                with open(tmp, "rb+") as handle:
                    self._finish(handle, tmp, dest)
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise

        await asyncio.to_thread(copy)
        return await asyncio.to_thread(self._info, key, dest)

    def _finish(self, handle: BinaryIO, tmp: Path, dest: Path) -> None:
        handle.flush()
        if self._fsync:
            os.fsync(handle.fileno())
        handle.close()
        self._rename_into_place(tmp, dest)

    def _rename_into_place(self, tmp: Path, dest: Path) -> None:
        # A concurrent delete may prune the parent directory between mkdir
        # and rename; retry a few times rather than fail.
        for _ in range(5):
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(tmp, dest)
                return
            except FileNotFoundError:
                if not tmp.exists():
                    raise
            except IsADirectoryError:
                raise ObjectStoreError(f"{dest} is a key prefix, it cannot also be an object") from None
        raise ObjectStoreError(f"could not write {dest}")

    # -- reads ----------------------------------------------------------------

    async def get_stream(
        self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncGenerator[bytes, None]:
        path = self._path(key)
        try:
            handle = open(path, "rb")  # noqa: ASYNC230, SIM115 - see put_stream; closed below
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFoundError(key) from None
        try:
            while chunk := await asyncio.to_thread(handle.read, chunk_size):
                yield chunk
        finally:
            handle.close()

    async def get_file(self, key: str, path: Path) -> ObjectInfo:
        src = self._path(key)
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")

        def copy() -> int:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(src, tmp)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            return path.stat().st_size

        try:
            size = await asyncio.to_thread(copy)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            if not await asyncio.to_thread(src.is_file):
                raise ObjectNotFoundError(key) from None
            raise ObjectStoreError(str(exc)) from exc
        return ObjectInfo(key=key, size=size)

    async def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)

        def stat() -> ObjectInfo | None:
            try:
                return self._info(key, path) if path.is_file() else None
            except FileNotFoundError:
                return None

        return await asyncio.to_thread(stat)

    def _walk(self, prefix: str) -> list[ObjectInfo]:
        # Start at the deepest directory the prefix names, not at the root.
        base_dir = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root / base_dir if base_dir else self.root
        out: list[ObjectInfo] = []
        if not start.is_dir():
            return out
        for dirpath, dirnames, filenames in os.walk(start):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            if rel_dir == ".":
                dirnames[:] = [d for d in dirnames if d != _TMP]
                rel_dir = ""
            for name in filenames:
                key = f"{rel_dir}/{name}" if rel_dir else name
                if key.startswith(prefix):
                    with contextlib.suppress(FileNotFoundError):
                        out.append(self._info(key, Path(dirpath) / name))
        out.sort(key=lambda info: info.key)
        return out

    async def list(self, prefix: str = "") -> AsyncGenerator[ObjectInfo, None]:
        check_prefix(prefix)
        for info in await asyncio.to_thread(self._walk, prefix):
            yield info

    # -- copies and deletes -----------------------------------------------------

    async def copy(self, src: str, dest: str) -> ObjectInfo:
        source = self._path(src)
        if not await asyncio.to_thread(source.is_file):
            raise ObjectNotFoundError(src)
        return await self.put_file(dest, source)

    async def move(self, src: str, dest: str) -> ObjectInfo:
        source = self._path(src)
        target = self._path(dest)

        def rename() -> None:
            if not source.is_file():
                raise ObjectNotFoundError(src)
            self._rename_into_place(source, target)
            self._prune(source.parent)

        await asyncio.to_thread(rename)
        return await asyncio.to_thread(self._info, dest, target)

    async def delete(self, key: str) -> None:
        path = self._path(key)

        def remove() -> None:
            try:
                path.unlink()
            except FileNotFoundError:
                return
            except IsADirectoryError:
                return
            self._prune(path.parent)

        await asyncio.to_thread(remove)

    def _prune(self, directory: Path) -> None:
        """Remove now-empty directories up to the root (best effort)."""
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    return
                raise
            directory = directory.parent
