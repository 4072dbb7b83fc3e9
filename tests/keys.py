"""Credentials for tests: API keys in the test database, the internal token.

Every process a test starts shares one internal token through
``CCPLANE_INTERNAL_TOKEN``, set by ``tests/conftest.py`` before anything
reads it.
"""

from __future__ import annotations

import secrets

import grpc

from common.credentials import authorized_channel
from common.db.engine import Database
from control_plane import api_keys
from control_plane.auth import DEFAULT_TENANT, Authenticator, AuthInterceptor

INTERNAL_TOKEN = "cci_tests_" + secrets.token_urlsafe(24)


async def create_key(database: Database, tenant: str = DEFAULT_TENANT, role: str = "admin") -> str:
    """A new API key's secret for ``tenant`` (created if new)."""
    async with database.session() as session, session.begin():
        return (await api_keys.create_key(session, tenant=tenant, role=role, name="test")).secret


async def set_limits(
    database: Database, tenant: str, *, max_runs: int | None = None, rps: float | None = None
) -> None:
    async with database.session() as session, session.begin():
        await api_keys.set_tenant_limits(
            session, tenant, max_unfinished_runs=max_runs, requests_per_second=rps
        )


def auth_interceptor(database: Database) -> AuthInterceptor:
    """The control plane's interceptor, uncached, for servers tests assemble themselves."""
    return AuthInterceptor(Authenticator(database, ttl=0))


def internal_channel(address: str) -> grpc.aio.Channel:
    """A channel to an executor-manager or executor, with the internal credential."""
    return authorized_channel(address, INTERNAL_TOKEN)
