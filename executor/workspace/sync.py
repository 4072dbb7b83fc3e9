"""Syncing a workspace directory back to the object store.

Compares the directory with the manifest it was restored from: a file
whose size, modification time and mode are unchanged is taken as unchanged
(as rsync does); any other is copied into the blob cache while it is
hashed, and uploaded when the store lacks that blob. When something
changed, the next manifest is *staged* at ``staged/<ws>/<run>/<v>.json``
for the control plane to record (see ``control_plane.workspaces.runs``).

The manifest is written last, once every blob it names is in the store: a
sync that fails half way (the store went away past its retries) leaves at
most unreferenced blobs, never a manifest — so never a version — that
points at missing content.

Symlinks, FIFOs, sockets and devices are skipped and reported, as are
names that are not valid workspace paths and files over the size limit;
nothing is read through a symlink.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from common.objectstore import ObjectStore
from common.objectstore.layout import blob_key, staged_manifest_key
from common.objectstore.manifest import FileMeta, Manifest
from common.objectstore.paths import InvalidPathError, check_path
from executor.workspace import fs
from executor.workspace.cache import BlobCache
from executor.workspace.tasks import for_each

_CHUNK = 1024 * 1024
_ATTEMPTS = 3


@dataclass
class SyncResult:
    # The new (staged) manifest, or the base one when nothing changed.
    manifest: Manifest
    changed_paths: list[str] = field(default_factory=list)
    deleted_paths: list[str] = field(default_factory=list)
    # Paths left out, with the reason.
    skipped: dict[str, str] = field(default_factory=dict)
    # Blobs uploaded (the store lacked them), and their bytes.
    uploaded: list[str] = field(default_factory=list)
    uploaded_bytes: int = 0
    staged_key: str | None = None

    @property
    def changed(self) -> bool:
        return self.staged_key is not None


async def sync(
    objects: ObjectStore,
    workspace_dir: Path,
    base_manifest: Manifest,
    *,
    run_id: str,
    cache_dir: Path,
    max_file_bytes: int | None = None,
    concurrency: int = 8,
) -> SyncResult:
    cache = BlobCache(cache_dir)
    files, skipped = await asyncio.to_thread(
        _snapshot, Path(workspace_dir), base_manifest, cache, max_file_bytes
    )
    candidate = base_manifest.successor(files)
    changed, deleted = base_manifest.diff(candidate)
    result = SyncResult(manifest=base_manifest, skipped=skipped)
    if not changed and not deleted:
        return result

    needed = sorted({candidate.files[p].sha256 for p in changed})
    sizes = {candidate.files[p].sha256: candidate.files[p].size for p in changed}

    async def upload(sha256: str) -> None:
        if not await objects.exists(blob_key(sha256)):
            await objects.put_file(blob_key(sha256), cache.path(sha256))
            result.uploaded.append(sha256)
            result.uploaded_bytes += sizes[sha256]

    await for_each(needed, upload, concurrency=concurrency)
    # Only now, every blob being in the store (see the module docstring).
    key = staged_manifest_key(candidate.workspace_id, run_id, candidate.version)
    await objects.put_bytes(key, candidate.to_json())
    result.manifest = candidate
    result.changed_paths = changed
    result.deleted_paths = deleted
    result.staged_key = key
    return result


def _snapshot(
    root: Path, base: Manifest, cache: BlobCache, max_file_bytes: int | None
) -> tuple[dict[str, FileMeta], dict[str, str]]:
    local, skipped = fs.scan(root)
    files: dict[str, FileMeta] = {}
    with fs.open_root(root) as root_fd:
        for found in local:
            try:
                check_path(found.path)
            except InvalidPathError as exc:
                skipped[found.path] = f"not a valid workspace path: {exc}"
                continue
            if max_file_bytes is not None and found.size > max_file_bytes:
                skipped[found.path] = f"larger than {max_file_bytes} bytes"
                continue
            known = base.files.get(found.path)
            if known and (known.size, known.mtime_ns, known.mode) == (found.size, found.mtime_ns, found.mode):
                files[found.path] = known
                continue
            meta, reason = _hash_into_cache(root_fd, found.path, cache)
            if meta is None:
                skipped[found.path] = reason
            else:
                files[found.path] = meta
    return files, skipped


def _hash_into_cache(root_fd: int, path: str, cache: BlobCache) -> tuple[FileMeta | None, str]:
    """Copy a file into the cache while hashing it; retried while the file
    changes under us."""
    for _ in range(_ATTEMPTS):
        try:
            fd = fs.open_file_beneath(root_fd, path)
        except (fs.UnsafePathError, FileNotFoundError, NotADirectoryError) as exc:
            return None, f"cannot be read safely: {exc.strerror or exc}"
        tmp = cache.temp_path()
        try:
            before = os.fstat(fd)
            digest = hashlib.sha256()
            size = 0
            with open(fd, "rb", closefd=False) as src, open(tmp, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
                    size += len(chunk)
            after = os.fstat(fd)
            if (before.st_size, before.st_mtime_ns) != (
                after.st_size,
                after.st_mtime_ns,
            ) or size != after.st_size:
                continue
            sha = digest.hexdigest()
            cache.keep(tmp, sha)
            return FileMeta(sha, size, stat.S_IMODE(before.st_mode) & 0o777, before.st_mtime_ns), ""
        finally:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return None, "kept changing while it was being synced"
