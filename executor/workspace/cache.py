"""The executor's local content-addressed blob cache.

``<cache>/<sha[:2]>/<sha>`` holds the bytes whose SHA-256 is ``sha``: a
restore fetches only blobs missing here, and a sync copies changed files in
here (hashing as it copies) so that what it uploads is exactly what it
hashed, even if the agent keeps writing the original. Entries are written
to a temporary name and renamed, and a download is verified before it is
kept, so the cache never holds wrong bytes under a hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
from pathlib import Path

from common.objectstore import ObjectStore
from common.objectstore.layout import blob_key, is_sha256

_CHUNK = 1024 * 1024


class CorruptBlobError(Exception):
    """A downloaded blob's content does not match its hash."""


class BlobCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise ValueError(f"invalid sha256 {sha256!r}")
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def temp_path(self) -> Path:
        return self._tmp / secrets.token_hex(12)

    def keep(self, tmp: Path, sha256: str) -> Path:
        """Move a verified temporary file into place under its hash."""
        target = self.path(sha256)
        target.parent.mkdir(exist_ok=True)
        os.replace(tmp, target)
        return target

    async def fetch(self, objects: ObjectStore, sha256: str) -> Path:
        """The cached blob, downloading and verifying it when missing."""
        target = self.path(sha256)
        if await asyncio.to_thread(target.is_file):
            return target
        tmp = self.temp_path()
        try:
            await objects.get_file(blob_key(sha256), tmp)
            actual = await asyncio.to_thread(file_sha256, tmp)
            if actual != sha256:
                raise CorruptBlobError(f"blob {sha256} downloaded with content hashing to {actual}")
            return await asyncio.to_thread(self.keep, tmp, sha256)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
