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

Every request is retried as :mod:`common.objectstore.retry` says when it
fails for a passing reason (botocore's own retries are off, so that there
is one budget): a multipart upload retries the part that failed, and a
download cut off half way resumes where it stopped (a ranged read of the
same ETag), so a stream never yields a byte twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
from aiobotocore.session import get_session  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from common.objectstore.base import (
    DEFAULT_CHUNK_SIZE,
    ObjectInfo,
    ObjectNotFoundError,
    ObjectStore,
    ObjectStoreError,
    ObjectStoreUnavailableError,
    check_key,
    check_prefix,
)
from common.objectstore.retry import Attempts, RetryPolicy, retrying

# S3 parts are at least 5 MiB (except the last) and at most 10,000 per upload.
MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 8 * 1024 * 1024
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
# Answers that say "not now" rather than "no": worth another attempt.
_PASSING_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# Failures to reach the store or to get its whole answer.
_PASSING_BOTOCORE = (BotoConnectionError, HTTPClientError, IncompleteReadError)

T = TypeVar("T")


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
        retry: RetryPolicy | None = None,
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
        self.retry = retry or RetryPolicy()
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
                    # Retried by self._call, with one budget for every request.
                    retries={"total_max_attempts": 1, "mode": "standard"},
                    connect_timeout=self.retry.timeout_s,
                    read_timeout=self.retry.timeout_s,
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

    async def _call(self, operation: str, key: str, request: Callable[[], Awaitable[T]]) -> T:
        """One S3 request, its errors translated, retried while they pass."""

        async def attempt() -> T:
            with _errors(key):
                return await request()

        return await retrying(self.retry, f"{operation} {key!r}", attempt)

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack = None
        self._client = None

    async def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist (tests, first start)."""
        s3 = await self._s3()
        bucket = self._where.bucket
        try:
            await self._call("HeadBucket", bucket, lambda: s3.head_bucket(Bucket=bucket))
        except ObjectStoreUnavailableError:
            raise
        except ObjectStoreError:
            await self._call("CreateBucket", bucket, lambda: s3.create_bucket(Bucket=bucket))

    # -- writes ---------------------------------------------------------------

    async def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        full = self._full(key)
        s3 = await self._s3()
        await self._call(
            "PutObject", key, lambda: s3.put_object(Bucket=self._where.bucket, Key=full, Body=data)
        )
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
        created = await self._call(
            "CreateMultipartUpload", key, lambda: s3.create_multipart_upload(Bucket=bucket, Key=full)
        )
        upload_id = created["UploadId"]
        parts: list[dict[str, Any]] = []
        size = 0

        async def send(data: bytes) -> None:
            nonlocal size
            number = len(parts) + 1
            answer = await self._call(
                "UploadPart",
                key,
                lambda: s3.upload_part(
                    Bucket=bucket, Key=full, UploadId=upload_id, PartNumber=number, Body=data
                ),
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
            await self._call(
                "CompleteMultipartUpload",
                key,
                lambda: s3.complete_multipart_upload(
                    Bucket=bucket, Key=full, UploadId=upload_id, MultipartUpload={"Parts": parts}
                ),
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
        attempts = Attempts(self.retry, f"GetObject {key!r}")
        received = 0
        # Set by the first answer: a resumed read must be of the same object.
        etag: str | None = None
        size: int | None = None
        while True:
            try:
                answer = await self._get_object(s3, key, full, received, etag)
            except ObjectStoreUnavailableError as exc:
                await attempts.failed(exc)
                continue
            if size is None:
                etag, size = answer.get("ETag"), int(answer.get("ContentLength", 0))
            failure: ObjectStoreUnavailableError
            async with answer["Body"] as body:
                while True:
                    try:
                        with _errors(key):
                            chunk = await body.read(chunk_size)
                    except ObjectStoreUnavailableError as exc:
                        failure = exc
                        break
                    if not chunk:
                        return
                    received += len(chunk)
                    yield chunk
            if received >= size:
                return  # cut off after the last byte
            await attempts.failed(failure)

    async def _get_object(self, s3: Any, key: str, full: str, offset: int, etag: str | None) -> Any:
        resume: dict[str, str] = {}
        if offset:
            resume["Range"] = f"bytes={offset}-"
            if etag:
                resume["IfMatch"] = etag
        with _errors(key):
            return await s3.get_object(Bucket=self._where.bucket, Key=full, **resume)

    async def head(self, key: str) -> ObjectInfo | None:
        full = self._full(key)
        s3 = await self._s3()
        try:
            answer = await self._call(
                "HeadObject", key, lambda: s3.head_object(Bucket=self._where.bucket, Key=full)
            )
        except ObjectNotFoundError:
            return None
        return ObjectInfo(key=key, size=int(answer["ContentLength"]), modified=answer.get("LastModified"))

    async def list(self, prefix: str = "") -> AsyncGenerator[ObjectInfo, None]:
        check_prefix(prefix)
        s3 = await self._s3()
        query: dict[str, str] = {"Bucket": self._where.bucket, "Prefix": self._prefix + prefix}
        while True:
            # Page by page, each retried on its own.
            page = await self._call(
                "ListObjectsV2", prefix or "/", functools.partial(s3.list_objects_v2, **query)
            )
            for item in page.get("Contents", []):
                yield ObjectInfo(
                    key=item["Key"][len(self._prefix) :],
                    size=int(item["Size"]),
                    modified=item.get("LastModified"),
                )
            if not page.get("IsTruncated") or not page.get("NextContinuationToken"):
                return
            query["ContinuationToken"] = page["NextContinuationToken"]

    # -- copies and deletes -----------------------------------------------------

    async def copy(self, src: str, dest: str) -> ObjectInfo:
        s3 = await self._s3()
        bucket = self._where.bucket
        target, source = self._full(dest), {"Bucket": bucket, "Key": self._full(src)}
        await self._call(
            "CopyObject", src, lambda: s3.copy_object(Bucket=bucket, Key=target, CopySource=source)
        )
        info = await self.head(dest)
        if info is None:
            raise ObjectStoreError(f"copy of {src!r} to {dest!r} did not appear")
        return info

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        full = self._full(key)
        await self._call("DeleteObject", key, lambda: s3.delete_object(Bucket=self._where.bucket, Key=full))


@contextlib.contextmanager
def _errors(key: str) -> Iterator[None]:
    """Translate botocore errors to the store's errors: a failure that may
    pass is ObjectStoreUnavailableError, a refusal ObjectStoreError."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _NOT_FOUND_CODES:
            raise ObjectNotFoundError(key) from None
        if status >= 500 or status == 429 or code in _PASSING_CODES:
            raise ObjectStoreUnavailableError(f"S3 answered {code or status} for {key!r}") from exc
        raise ObjectStoreError(f"S3 refused the request for {key!r}: {code} {exc}") from exc
    except _PASSING_BOTOCORE as exc:
        # botocore's message names the URL, and so the key.
        raise ObjectStoreUnavailableError(str(exc)) from exc
    except BotoCoreError as exc:
        raise ObjectStoreError(f"S3 request for {key!r} failed: {exc}") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        # A body cut off in a way aiobotocore does not translate.
        raise ObjectStoreUnavailableError(
            f"S3 request for {key!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
