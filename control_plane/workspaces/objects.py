"""Workspace content in the object store: blobs and manifests.

Blobs are uploaded before the transaction that records a version (an
upload that fails leaves at most an unreferenced blob, which is harmless);
a manifest is written while the workspace row is locked, just before the
commit that makes it a version. Object-store failures become gRPC statuses
here: an unreachable store is UNAVAILABLE, a recorded object that is gone
or corrupt is DATA_LOSS.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from dataclasses import dataclass

import grpc
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import ServiceError, resource_exhausted, unavailable
from common.objectstore import ObjectNotFoundError, ObjectStore, ObjectStoreError
from common.objectstore.layout import blob_key, manifest_key, upload_key
from common.objectstore.manifest import InvalidManifestError, Manifest
from control_plane.workspaces import store

# A manifest lists every file; this bounds what a corrupt one can cost.
MAX_MANIFEST_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Blob:
    sha256: str
    size: int


def data_loss(message: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.DATA_LOSS, "WORKSPACE_DATA_LOST", message, metadata=metadata)


@contextlib.contextmanager
def store_errors(what: str) -> Iterator[None]:
    try:
        yield
    except ObjectNotFoundError as exc:
        raise data_loss(f"{what}: object {exc.key!r} is missing from the object store", key=exc.key) from exc
    except ObjectStoreError as exc:
        raise unavailable("OBJECT_STORE_UNAVAILABLE", f"{what}: the object store failed: {exc}") from exc


async def load_manifest(
    session: AsyncSession, objects: ObjectStore, workspace_id: str, version: int
) -> Manifest:
    """The manifest of a recorded version (version 0 is the empty one)."""
    key = await store.manifest_key(session, workspace_id, version)
    if key is None:
        return Manifest.empty(workspace_id)
    return await read_manifest(objects, key, workspace_id, version)


async def read_manifest(objects: ObjectStore, key: str, workspace_id: str, version: int) -> Manifest:
    with store_errors(f"reading version {version} of {workspace_id}"):
        data = await objects.get_bytes(key, max_size=MAX_MANIFEST_BYTES)
    try:
        manifest = Manifest.from_json(data)
    except InvalidManifestError as exc:
        raise data_loss(f"manifest {key!r} is corrupt: {exc}", key=key) from exc
    if manifest.workspace_id != workspace_id or manifest.version != version:
        raise data_loss(f"manifest {key!r} describes another version", key=key)
    return manifest


async def write_manifest(objects: ObjectStore, manifest: Manifest) -> str:
    """Store a version's manifest at its canonical key. Call only while
    holding the workspace row lock (see common.objectstore.layout)."""
    key = manifest_key(manifest.workspace_id, manifest.version)
    with store_errors(f"writing version {manifest.version} of {manifest.workspace_id}"):
        await objects.put_bytes(key, manifest.to_json())
    return key


async def put_blob(objects: ObjectStore, data: bytes) -> Blob:
    blob = Blob(hashlib.sha256(data).hexdigest(), len(data))
    with store_errors("storing file content"):
        if not await objects.exists(blob_key(blob.sha256)):
            await objects.put_bytes(blob_key(blob.sha256), data)
    return blob


async def put_blob_stream(
    objects: ObjectStore,
    chunks: AsyncIterable[bytes],
    *,
    max_bytes: int,
    limit_reason: str = "FILE_TOO_LARGE",
) -> Blob:
    """Stream content into a blob without holding it in memory.

    The content goes to ``uploads/<id>`` while it is hashed, then moves to
    ``blobs/<sha256>``. More than ``max_bytes`` is RESOURCE_EXHAUSTED as
    soon as it arrives. Whatever happens, no ``uploads/`` object remains.
    """
    digest = hashlib.sha256()
    size = 0

    async def hashed() -> AsyncIterator[bytes]:
        nonlocal size
        async for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise resource_exhausted(
                    limit_reason, f"the file is larger than {max_bytes} bytes", limit=str(max_bytes)
                )
            digest.update(chunk)
            yield chunk

    staging = upload_key(secrets.token_hex(16))
    try:
        with store_errors("storing file content"):
            await objects.put_stream(staging, hashed())
            blob = Blob(digest.hexdigest(), size)
            if await objects.exists(blob_key(blob.sha256)):
                await objects.delete(staging)
            else:
                await objects.move(staging, blob_key(blob.sha256))
    except BaseException:
        with contextlib.suppress(Exception):
            await objects.delete(staging)
        raise
    return blob


async def blob_bytes(objects: ObjectStore, sha256: str, *, max_size: int) -> bytes:
    with store_errors("reading file content"):
        return await objects.get_bytes(blob_key(sha256), max_size=max_size)
