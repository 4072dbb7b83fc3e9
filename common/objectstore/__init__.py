"""Object storage for workspace snapshots and agent thread state.

One async interface (:class:`ObjectStore`), two backends (local directory,
S3-compatible through aiobotocore), :func:`open_store` for the configured
URL, retries of requests whose failure may pass (:mod:`.retry`), and the
layout of what ccplane keeps there: content-addressed blobs, version
manifests and the workspace path rules they obey.
"""

from common.objectstore.base import (
    ObjectInfo,
    ObjectNotFoundError,
    ObjectStore,
    ObjectStoreError,
    ObjectStoreUnavailableError,
)
from common.objectstore.local import LocalObjectStore
from common.objectstore.retry import RetryNotice, RetryPolicy, reporting_retries, retry_policy_from_env
from common.objectstore.s3 import S3Location, S3ObjectStore
from common.objectstore.url import ENV_VAR, default_store_url, open_store, store_url_from_env

__all__ = [
    "ENV_VAR",
    "LocalObjectStore",
    "ObjectInfo",
    "ObjectNotFoundError",
    "ObjectStore",
    "ObjectStoreError",
    "ObjectStoreUnavailableError",
    "RetryNotice",
    "RetryPolicy",
    "S3Location",
    "S3ObjectStore",
    "default_store_url",
    "open_store",
    "reporting_retries",
    "retry_policy_from_env",
    "store_url_from_env",
]
