"""The object store on an S3-compatible service (AWS S3, RustFS, MinIO),
through aiobotocore.

Objects live at ``<prefix><key>`` in one bucket. Credentials come from the
standard AWS chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE``, instance metadata), never from the store URL. With an
explicit endpoint (RustFS, MinIO) path-style addressing is the default.

Streams smaller than one part are sent with one ``PutObject``; larger ones
with a multipart upload holding one part in memory at a time, aborted when
the stream fails or is cancelled so that no partial object or orphaned
upload remains.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
from aiobotocore.session import get_session  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from common.objectstore.base import (
    DEFAULT_CHUNK_SIZE,
    ObjectInfo,
    ObjectNotFoundError,
    ObjectStore,
    ObjectStoreError,
    check_key,
    check_prefix,
)

# S3 parts are at least 5 MiB (except the last) and at most 10,000 per upload.
MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 8 * 1024 * 1024
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    # "path" (RustFS, MinIO), "virtual" or "auto".
    addressing_style: str = "auto"


class S3ObjectStore(ObjectStore):
    def __init__(
        self,
        location: S3Location,
        *,
        part_size: int = DEFAULT_PART_SIZE,
        max_connections: int = 20,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        prefix = location.prefix.strip("/")
        if prefix:
            check_key(prefix)
        self._where = location
        self._prefix = f"{prefix}/" if prefix else ""
        self._part_size = part_size
        self._max_connections = max_connections
        self._client: Any = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._lock = asyncio.Lock()
        endpoint = f"{location.endpoint_url} " if location.endpoint_url else ""
        self.location = f"s3://{location.bucket}/{self._prefix} {endpoint}".strip()

    async def _s3(self) -> Any:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                config = AioConfig(
                    s3={"addressing_style": self._where.addressing_style},
                    signature_version="s3v4",
                    max_pool_connections=self._max_connections,
                    retries={"max_attempts": 5, "mode": "standard"},
                )
                stack = contextlib.AsyncExitStack()
                self._client = await stack.enter_async_context(
                    get_session().create_client(
                        "s3",
                        endpoint_url=self._where.endpoint_url,
                        region_name=self._where.region,
                        config=config,
                    )
                )
                self._stack = stack
        return self._client

    def _full(self, key: str) -> str:
        return self._prefix + check_key(key)

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack = None
        self._client = None

    async def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist (tests, first start)."""
        s3 = await self._s3()
        try:
            await s3.head_bucket(Bucket=self._where.bucket)
        except ClientError:
            with _errors(self._where.bucket):
                await s3.create_bucket(Bucket=self._where.bucket)

    # -- writes ---------------------------------------------------------------

    async def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        full = self._full(key)
        s3 = await self._s3()
        with _errors(key):
            await s3.put_object(Bucket=self._where.bucket, Key=full, Body=data)
        return ObjectInfo(key=key, size=len(data))

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes]) -> ObjectInfo:
        full = self._full(key)
        buffer = bytearray()
        iterator = aiter(chunks)
        # Read up to one part: small objects need no multipart upload.
        async for chunk in iterator:
            buffer += chunk
            if len(buffer) >= self._part_size:
                break
        else:
            return await self.put_bytes(key, bytes(buffer))
        return await self._multipart(key, full, buffer, iterator)

    async def _multipart(
        self, key: str, full: str, buffer: bytearray, rest: AsyncIterator[bytes]
    ) -> ObjectInfo:
        s3 = await self._s3()
        bucket = self._where.bucket
        with _errors(key):
            upload_id = (await s3.create_multipart_upload(Bucket=bucket, Key=full))["UploadId"]
        parts: list[dict[str, Any]] = []
        size = 0

        async def send(data: bytes) -> None:
            nonlocal size
            number = len(parts) + 1
            with _errors(key):
                answer = await s3.upload_part(
                    Bucket=bucket, Key=full, UploadId=upload_id, PartNumber=number, Body=data
                )
            parts.append({"PartNumber": number, "ETag": answer["ETag"]})
            size += len(data)

        try:
            async for chunk in rest:
                buffer += chunk
                while len(buffer) >= self._part_size:
                    await send(bytes(buffer[: self._part_size]))
                    del buffer[: self._part_size]
            if buffer or not parts:
                await send(bytes(buffer))
            buffer.clear()
            with _errors(key):
                await s3.complete_multipart_upload(
                    Bucket=bucket, Key=full, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            # Shielded: a cancelled upload must still be aborted.
            with contextlib.suppress(Exception):
                await asyncio.shield(s3.abort_multipart_upload(Bucket=bucket, Key=full, UploadId=upload_id))
            raise
        return ObjectInfo(key=key, size=size)

    # -- reads ----------------------------------------------------------------

    async def get_stream(
        self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncGenerator[bytes, None]:
        full = self._full(key)
        s3 = await self._s3()
        with _errors(key):
            answer = await s3.get_object(Bucket=self._where.bucket, Key=full)
        async with answer["Body"] as body:
            while True:
                with _errors(key):
                    chunk = await body.read(chunk_size)
                if not chunk:
                    break
                yield chunk

    async def head(self, key: str) -> ObjectInfo | None:
        full = self._full(key)
        s3 = await self._s3()
        try:
            with _errors(key):
                answer = await s3.head_object(Bucket=self._where.bucket, Key=full)
        except ObjectNotFoundError:
            return None
        return ObjectInfo(key=key, size=int(answer["ContentLength"]), modified=answer.get("LastModified"))

    async def list(self, prefix: str = "") -> AsyncGenerator[ObjectInfo, None]:
        check_prefix(prefix)
        s3 = await self._s3()
        paginator = s3.get_paginator("list_objects_v2")
        with _errors(prefix):
            async for page in paginator.paginate(Bucket=self._where.bucket, Prefix=self._prefix + prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        key=item["Key"][len(self._prefix) :],
                        size=int(item["Size"]),
                        modified=item.get("LastModified"),
                    )

    # -- copies and deletes -----------------------------------------------------

    async def copy(self, src: str, dest: str) -> ObjectInfo:
        s3 = await self._s3()
        bucket = self._where.bucket
        with _errors(src):
            await s3.copy_object(
                Bucket=bucket, Key=self._full(dest), CopySource={"Bucket": bucket, "Key": self._full(src)}
            )
        info = await self.head(dest)
        if info is None:
            raise ObjectStoreError(f"copy of {src!r} to {dest!r} did not appear")
        return info

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        with _errors(key):
            await s3.delete_object(Bucket=self._where.bucket, Key=self._full(key))


@contextlib.contextmanager
def _errors(key: str) -> Any:
    """Translate botocore errors to the store's errors."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _NOT_FOUND_CODES:
            raise ObjectNotFoundError(key) from None
        raise ObjectStoreError(f"S3 refused the request for {key!r}: {code} {exc}") from exc
    except BotoCoreError as exc:
        raise ObjectStoreError(f"S3 request for {key!r} failed: {exc}") from exc
