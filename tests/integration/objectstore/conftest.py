"""Object-store fixtures: every backend, opened from its URL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from common.objectstore import LocalObjectStore, ObjectStore, S3ObjectStore, open_store
from tests.integration.objectstore.moto_server import new_s3_store, s3_endpoint

__all__ = ["s3_endpoint"]

BACKENDS = ("local", "s3")


async def leftovers(store: ObjectStore) -> list[str]:
    """Traces of unfinished writes: temporary files, pending multipart uploads."""
    if isinstance(store, LocalObjectStore):
        return sorted(p.name for p in (store.root / ".tmp").iterdir())
    assert isinstance(store, S3ObjectStore)
    s3 = await store._s3()
    answer = await s3.list_multipart_uploads(Bucket=store._where.bucket)
    return sorted(u["Key"] for u in answer.get("Uploads", []))


@pytest_asyncio.fixture(params=BACKENDS, loop_scope="session")
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    opened: ObjectStore
    if request.param == "local":
        opened = open_store((tmp_path / "objects").as_uri())
    else:
        opened = await new_s3_store(request.getfixturevalue("s3_endpoint"))
    try:
        yield opened
    finally:
        await opened.close()


LeftoversFn = Callable[[ObjectStore], Awaitable[list[str]]]


@pytest.fixture
def store_leftovers() -> LeftoversFn:
    return leftovers
