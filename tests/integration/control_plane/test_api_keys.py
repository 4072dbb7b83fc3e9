"""API keys against real PostgreSQL, and the `ccplane api-keys` command."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from common.db import models
from common.db.engine import Database
from common.errors import ServiceError
from control_plane import api_keys
from control_plane.auth import Authenticator
from control_plane.limits import TenantLimits


async def test_create_authenticate_revoke(database: Database) -> None:
    async with database.session() as session, session.begin():
        new = await api_keys.create_key(session, tenant="acme-keys", role="user", name="ci")
    assert new.secret.startswith("ccp_") and len(new.secret) > 40
    async with database.session() as session:
        caller = await api_keys.authenticate(session, new.secret)
        row = await session.get_one(models.ApiKey, new.key_id)
    assert caller is not None
    assert (caller.tenant_id, caller.key_id, caller.role, caller.is_admin) == (
        "acme-keys",
        new.key_id,
        "user",
        False,
    )
    assert new.secret not in (row.key_hash, row.prefix), "the secret itself is never stored"
    assert row.key_hash == api_keys.key_hash(new.secret)

    async with database.session() as session:
        assert await api_keys.authenticate(session, new.secret + "x") is None
        assert await api_keys.authenticate(session, "Bearer nonsense") is None
    async with database.session() as session, session.begin():
        await api_keys.revoke(session, new.key_id)
    async with database.session() as session:
        assert await api_keys.authenticate(session, new.secret) is None
        listed = await api_keys.list_keys(session, "acme-keys")
    assert [(k.key_id, k.revoked_at is not None) for k in listed] == [(new.key_id, True)]


async def test_bad_input(database: Database) -> None:
    async with database.session() as session, session.begin():
        with pytest.raises(ServiceError, match="tenant"):
            await api_keys.create_key(session, tenant="Not A Slug")
        with pytest.raises(ServiceError, match="role"):
            await api_keys.create_key(session, tenant="acme", role="root")
        with pytest.raises(ServiceError) as err:
            await api_keys.revoke(session, "key_01ABCDEFGHJKMNPQRSTVWXYZ01")
        assert err.value.reason == "API_KEY_NOT_FOUND"


async def test_local_admin_key_is_created_once_with_mode_0600(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "data" / "admin.key"
    async with database.session() as session, session.begin():
        first = await api_keys.ensure_local_admin_key(session, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == first
    async with database.session() as session, session.begin():
        again = await api_keys.ensure_local_admin_key(session, path)
        caller = await api_keys.authenticate(session, again)
    assert again == first, "an existing valid key is kept"
    assert caller is not None and caller.is_admin and caller.tenant_id == "default"


def test_cli_creates_a_key_it_prints_once(db_url: str) -> None:
    env = {**os.environ, "CCPLANE_DATABASE_URL": db_url, "CCPLANE_LOG_LEVEL": "WARNING"}
    created = subprocess.run(
        [sys.executable, "-m", "common.cli.main", "api-keys", "create", "--tenant", "cli-tenant", "--admin"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    secret = created.stdout.splitlines()[0]
    assert secret.startswith("ccp_")
    listed = subprocess.run(
        [sys.executable, "-m", "common.cli.main", "api-keys", "list", "--tenant", "cli-tenant"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "cli-tenant" in listed.stdout and "admin" in listed.stdout
    assert secret not in listed.stdout, "secrets are shown only when created"


async def test_authenticator_caches_lookups_for_its_ttl(database: Database) -> None:
    now = [0.0]
    authenticator = Authenticator(database, TenantLimits(10, 20.0), ttl=5.0, clock=lambda: now[0])
    async with database.session() as session, session.begin():
        new = await api_keys.create_key(session, tenant="cached-keys")
        await api_keys.set_tenant_limits(session, "cached-keys", max_unfinished_runs=3)
    caller = await authenticator.caller(new.secret)
    assert caller is not None and caller.tenant_id == "cached-keys" and not caller.is_admin
    assert caller.limits == TenantLimits(3, 20.0), "the tenant's override, the default otherwise"

    async with database.session() as session, session.begin():
        await api_keys.revoke(session, new.key_id)
    now[0] = 4.9
    assert await authenticator.caller(new.secret) == caller, "still cached"
    now[0] = 5.1
    assert await authenticator.caller(new.secret) is None, "revocation counts once the entry expires"


async def test_tenant_limits_are_set_reset_and_validated(database: Database) -> None:
    async with database.session() as session, session.begin():
        await api_keys.set_tenant_limits(session, "limited", max_unfinished_runs=5, requests_per_second=2.5)
        await api_keys.set_tenant_limits(session, "limited", requests_per_second=api_keys.DEFAULT_LIMIT)
        (info,) = [t for t in await api_keys.list_tenants(session) if t.tenant_id == "limited"]
    assert (info.max_unfinished_runs, info.requests_per_second) == (5, None)
    async with database.session() as session, session.begin():
        with pytest.raises(ServiceError, match="max_unfinished_runs"):
            await api_keys.set_tenant_limits(session, "limited", max_unfinished_runs=-7)
        with pytest.raises(ServiceError, match="requests_per_second"):
            await api_keys.set_tenant_limits(session, "limited", requests_per_second=-0.5)


def test_cli_sets_and_lists_tenant_limits(db_url: str) -> None:
    env = {**os.environ, "CCPLANE_DATABASE_URL": db_url, "CCPLANE_LOG_LEVEL": "WARNING"}
    subprocess.run(
        [sys.executable, "-m", "common.cli.main", "tenants", "set-limits", "cli-limits", "--max-runs", "7",
         "--rps", "default", "--full-access", "allow"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    listed = subprocess.run(
        [sys.executable, "-m", "common.cli.main", "tenants", "list"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    (line,) = [line for line in listed.stdout.splitlines() if line.startswith("cli-limits ")]
    assert "max-runs=7" in line and "rps=default" in line and "full-access=allow" in line
    refused = subprocess.run(
        [sys.executable, "-m", "common.cli.main", "tenants", "set-limits", "cli-limits", "--max-runs", "-2"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 2 and "max-runs" in refused.stderr
