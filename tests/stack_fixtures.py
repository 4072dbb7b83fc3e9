"""Fixtures that start ccplane services on loopback against the test database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from common.settings import Settings
from control_plane.app import ControlPlane


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def control_plane(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ControlPlane]:
    """A control plane serving gRPC on a free loopback port (no executor-manager:
    runs stay queued), its object store in a temporary directory."""
    settings = Settings()
    settings.data_dir = tmp_path_factory.mktemp("control-plane")
    plane = ControlPlane(settings, db_url)
    await plane.start(host="127.0.0.1", port=0)
    try:
        yield plane
    finally:
        await plane.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def channel(control_plane: ControlPlane) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(control_plane.address) as ch:
        yield ch
