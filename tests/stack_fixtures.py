"""Fixtures that start ccplane services on loopback against the test database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
import pytest_asyncio

from common.credentials import authorized_channel
from common.db.engine import Database
from common.settings import Settings
from control_plane.app import ControlPlane
from control_plane.auth import DEFAULT_TENANT
from tests.keys import create_key

ChannelFactory = Callable[..., Awaitable[grpc.aio.Channel]]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def control_plane(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ControlPlane]:
    """A control plane serving gRPC on a free loopback port (no executor-manager:
    runs stay queued), its object store in a temporary directory.

    Its default tenant limits are off, since the whole session shares it;
    tests of limits set them per tenant. Key lookups are not cached, so a
    revoked key or a changed limit counts at once. Its reconciler runs only
    on demand."""
    settings = Settings()
    settings.data_dir = tmp_path_factory.mktemp("control-plane")
    settings.tenant_max_runs = 0
    settings.tenant_rps = 0
    settings.auth_cache_ttl = 0
    # Tests share this database and set run statuses themselves: no pass
    # runs unless a test asks for one (tests/integration/control_plane).
    settings.reconcile_interval = 0
    plane = ControlPlane(settings, db_url)
    await plane.start(host="127.0.0.1", port=0)
    try:
        yield plane
    finally:
        await plane.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def admin_key(database: Database) -> str:
    """An admin key of the default tenant, like an embedded installation's."""
    return await create_key(database, DEFAULT_TENANT, "admin")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def channel(control_plane: ControlPlane, admin_key: str) -> AsyncIterator[grpc.aio.Channel]:
    """A channel to the control plane that authenticates with ``admin_key``."""
    async with authorized_channel(control_plane.address, admin_key) as ch:
        yield ch


@pytest_asyncio.fixture(loop_scope="session")
async def tenant_channel(control_plane: ControlPlane, database: Database) -> AsyncIterator[ChannelFactory]:
    """``await tenant_channel("acme", role="user")``: a channel with a new key of that tenant."""
    opened: list[grpc.aio.Channel] = []

    async def open_channel(tenant: str, role: str = "user") -> grpc.aio.Channel:
        ch = authorized_channel(control_plane.address, await create_key(database, tenant, role))
        opened.append(ch)
        return ch

    try:
        yield open_channel
    finally:
        for ch in opened:
            await ch.close()
