"""Restoring a workspace version into a directory.

Fetches only the blobs missing from the local cache, then makes the
directory equal to the manifest: files already right (same size, time and
mode) are kept, others are written atomically, and everything else —
stray files, directories, symlinks — is removed. Nothing is ever written
through a symlink (see :mod:`executor.workspace.fs`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from common.objectstore import ObjectNotFoundError, ObjectStore
from common.objectstore.layout import manifest_key
from common.objectstore.manifest import Manifest, check_tree
from executor.workspace import fs
from executor.workspace.cache import BlobCache
from executor.workspace.tasks import for_each

MAX_MANIFEST_BYTES = 256 * 1024 * 1024


class ManifestNotFoundError(Exception):
    """The requested version has no manifest in the store."""


@dataclass
class RestoreResult:
    fetched: list[str] = field(default_factory=list)  # blob hashes downloaded
    written: list[str] = field(default_factory=list)  # paths (re)written
    kept: list[str] = field(default_factory=list)  # paths already right
    removed: list[str] = field(default_factory=list)  # paths removed
    fetched_bytes: int = 0  # content downloaded (the fetched blobs' sizes)


async def load_manifest(objects: ObjectStore, workspace_id: str, version: int) -> Manifest:
    """The manifest of a recorded version; version 0 is the empty workspace."""
    if version == 0:
        return Manifest.empty(workspace_id)
    key = manifest_key(workspace_id, version)
    try:
        data = await objects.get_bytes(key, max_size=MAX_MANIFEST_BYTES)
    except ObjectNotFoundError:
        raise ManifestNotFoundError(f"no manifest for version {version} of {workspace_id}") from None
    manifest = Manifest.from_json(data)
    if manifest.workspace_id != workspace_id or manifest.version != version:
        raise ValueError(f"manifest {key!r} describes another version")
    return manifest


async def restore(
    objects: ObjectStore,
    manifest: Manifest,
    workspace_dir: Path,
    cache_dir: Path,
    *,
    concurrency: int = 8,
) -> RestoreResult:
    check_tree(manifest.files)  # a manifest built in-process gets the same checks as a stored one
    cache = BlobCache(cache_dir)
    result = RestoreResult()
    missing = sorted({m.sha256 for m in manifest.files.values() if not cache.has(m.sha256)})

    async def fetch(sha256: str) -> None:
        await cache.fetch(objects, sha256)

    await for_each(missing, fetch, concurrency=concurrency)
    result.fetched = missing
    sizes = {m.sha256: m.size for m in manifest.files.values()}
    result.fetched_bytes = sum(sizes[sha256] for sha256 in missing)
    await asyncio.to_thread(_materialise, manifest, Path(workspace_dir), cache, result)
    return result


def _materialise(manifest: Manifest, root: Path, cache: BlobCache, result: RestoreResult) -> None:
    root.mkdir(parents=True, exist_ok=True)
    with fs.open_root(root) as root_fd:
        for path, meta in manifest.files.items():
            if fs.matches(root_fd, path, size=meta.size, mtime_ns=meta.mtime_ns, mode=meta.mode):
                result.kept.append(path)
                continue
            fs.write_beneath(root_fd, path, cache.path(meta.sha256), mode=meta.mode, mtime_ns=meta.mtime_ns)
            result.written.append(path)
    result.removed = fs.remove_extraneous(root, set(manifest.files))
