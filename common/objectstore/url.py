"""Opening the object store named by ``CCPLANE_OBJECT_STORE_URL``.

- ``file:///abs/path`` — a local directory (the embedded default is
  ``file://<data-dir>/objects``).
- ``s3://bucket/optional/prefix?endpoint=http://host:9000&region=us-east-1``
  — S3 or an S3-compatible service. ``addressing=path|virtual|auto``
  (default ``path`` with an endpoint, ``auto`` without),
  ``part_size=<bytes>`` for multipart uploads. Credentials come from the
  environment (AWS chain); a URL carrying credentials is refused so that
  secrets never end up in logs or process listings.

Requests to an S3 store are retried as ``CCPLANE_OBJECT_STORE_RETRIES``,
``CCPLANE_OBJECT_STORE_RETRY_MAX_S`` and ``CCPLANE_OBJECT_STORE_TIMEOUT_S``
say (see :mod:`common.objectstore.retry`).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from common.objectstore.base import ObjectStore
from common.objectstore.local import LocalObjectStore
from common.objectstore.retry import RetryPolicy, retry_policy_from_env
from common.objectstore.s3 import DEFAULT_PART_SIZE, S3Location, S3ObjectStore

ENV_VAR = "CCPLANE_OBJECT_STORE_URL"
_ADDRESSING = ("path", "virtual", "auto")
_S3_PARAMS = frozenset({"endpoint", "region", "addressing", "part_size"})


def default_store_url(data_dir: Path) -> str:
    return (Path(data_dir).expanduser().resolve() / "objects").as_uri()


def store_url_from_env(data_dir: Path) -> str:
    """``$CCPLANE_OBJECT_STORE_URL``, or the local directory under ``data_dir``."""
    return os.environ.get(ENV_VAR, "").strip() or default_store_url(data_dir)


def open_store(url: str, *, data_dir: Path | None = None, retry: RetryPolicy | None = None) -> ObjectStore:
    """The store ``url`` names; an empty url means ``file://<data_dir>/objects``.
    ``retry`` defaults to the policy the environment sets.

    Raises ``ValueError`` with a message fit for an operator on a bad URL or
    retry setting. Opening connects to nothing: the first request does.
    """
    # Read first: a malformed setting is refused whichever backend is used.
    retry = retry or retry_policy_from_env()
    url = url.strip()
    if not url:
        if data_dir is None:
            raise ValueError(f"no object store URL and no data directory; set {ENV_VAR}")
        url = default_store_url(data_dir)
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or parts.query:
            raise ValueError(f"object store URL {url!r}: use file:///absolute/path")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise ValueError(f"object store URL {url!r}: the path must be absolute")
        return LocalObjectStore(Path(path))
    if parts.scheme == "s3":
        location, part_size = _s3_location(url)
        return S3ObjectStore(location, part_size=part_size, retry=retry)
    raise ValueError(f"object store URL {url!r}: the scheme must be file:// or s3://")


def _s3_location(url: str) -> tuple[S3Location, int]:
    parts = urlsplit(url)
    if "@" in parts.netloc or parts.password or parts.username:
        raise ValueError(
            "object store URL must not carry credentials; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY in the environment instead"
        )
    bucket = parts.netloc
    if not bucket:
        raise ValueError(f"object store URL {url!r}: the bucket is missing (s3://bucket/prefix)")
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    unknown = set(query) - _S3_PARAMS
    if unknown:
        raise ValueError(f"object store URL: unknown parameter(s) {', '.join(sorted(unknown))}")

    def one(name: str) -> str | None:
        values = query.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise ValueError(f"object store URL: parameter {name!r} given twice")
        return values[0] or None

    endpoint = one("endpoint")
    if endpoint is not None and urlsplit(endpoint).scheme not in ("http", "https"):
        raise ValueError(f"object store URL: endpoint {endpoint!r} must be an http(s) URL")
    addressing = one("addressing") or ("path" if endpoint else "auto")
    if addressing not in _ADDRESSING:
        raise ValueError(f"object store URL: addressing must be one of {', '.join(_ADDRESSING)}")
    raw_part_size = one("part_size")
    try:
        part_size = int(raw_part_size) if raw_part_size else DEFAULT_PART_SIZE
    except ValueError:
        raise ValueError("object store URL: part_size must be a number of bytes") from None
    location = S3Location(
        bucket=bucket,
        prefix=unquote(parts.path).strip("/"),
        endpoint_url=endpoint,
        region=one("region"),
        addressing_style=addressing,
    )
    return location, part_size
