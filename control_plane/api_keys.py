"""API keys: who may call ccplane, for which tenant, in which role.

A key is shown once when it is created (``ccp_`` followed by 43 random
URL-safe characters) and stored only as its SHA-256; the first characters
are kept as ``prefix`` so people can tell keys apart. Each key belongs to a
tenant (a slug such as ``default`` or ``acme``, created on first use) and
has a role, ``user`` or ``admin``.

Embedded installations get a local admin key on first start, written to
``<data-dir>/admin.key`` with mode 0600; the ``ccplane`` CLI uses it by
default.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from common import ids
from common.credentials import write_secret
from common.db import models
from common.errors import invalid_argument, not_found

DEFAULT_TENANT = "default"

KEY_PREFIX = "ccp_"
ROLES = ("user", "admin")
_TENANT = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_SHOWN_CHARS = 12


@dataclass(frozen=True)
class NewKey:
    key_id: str
    tenant_id: str
    role: str
    # The secret itself: shown once, never stored.
    secret: str


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    tenant_id: str
    name: str
    role: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def validate_tenant(tenant: str) -> str:
    if not _TENANT.fullmatch(tenant):
        raise invalid_argument(
            "tenant", "must be 1-63 lower-case letters, digits or '-', starting with a letter or digit"
        )
    return tenant


async def ensure_tenant(session: AsyncSession, tenant: str) -> str:
    """The tenant's id (its slug), creating the tenant on first use."""
    validate_tenant(tenant)
    await session.execute(
        insert(models.Tenant).values(id=tenant, name=tenant).on_conflict_do_nothing(index_elements=["id"])
    )
    return tenant


async def create_key(session: AsyncSession, *, tenant: str, role: str = "user", name: str = "") -> NewKey:
    """Create a key for ``tenant`` (created if new). Call inside a transaction."""
    if role not in ROLES:
        raise invalid_argument("role", f"must be one of {', '.join(ROLES)}")
    tenant_id = await ensure_tenant(session, tenant)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = ids.new_id(ids.API_KEY)
    session.add(
        models.ApiKey(
            id=key_id,
            tenant_id=tenant_id,
            name=name or key_id,
            key_hash=key_hash(secret),
            prefix=secret[:_SHOWN_CHARS],
            role=role,
        )
    )
    await session.flush()
    return NewKey(key_id, tenant_id, role, secret)


@dataclass(frozen=True)
class KeyIdentity:
    """What a valid key stands for: its tenant, its role, the tenant's limit overrides."""

    key_id: str
    tenant_id: str
    role: str
    max_unfinished_runs: int | None
    requests_per_second: float | None
    # The tenant may run agents with full access (an admin's decision).
    allow_full_access: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


# What a valid key stands for, selected with the key joined to its tenant.
IDENTITY_COLUMNS: Final = (
    models.ApiKey.id.label("key_id"),
    models.ApiKey.tenant_id,
    models.ApiKey.role,
    models.Tenant.max_unfinished_runs,
    models.Tenant.requests_per_second,
    models.Tenant.allow_full_access,
)


def identity_of(row: Row[*tuple[Any, ...]]) -> KeyIdentity:
    """The :class:`KeyIdentity` of a row selected with :data:`IDENTITY_COLUMNS`."""
    return KeyIdentity(
        row.key_id,
        row.tenant_id,
        row.role,
        row.max_unfinished_runs,
        row.requests_per_second,
        row.allow_full_access,
    )


# How stale ``last_used_at`` may get: it is written at most this often per key.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


async def authenticate(session: AsyncSession, secret: str, *, touch: bool = False) -> KeyIdentity | None:
    """What ``secret`` stands for; None for an unknown or revoked key.

    ``touch`` records the use in ``last_used_at`` (at most once a minute).
    """
    if not secret.startswith(KEY_PREFIX):
        return None
    row = (
        await session.execute(
            select(*IDENTITY_COLUMNS)
            .join(models.Tenant, models.Tenant.id == models.ApiKey.tenant_id)
            .where(models.ApiKey.key_hash == key_hash(secret), models.ApiKey.revoked_at.is_(None))
        )
    ).one_or_none()
    if row is None:
        return None
    if touch:
        await session.execute(
            update(models.ApiKey)
            .where(
                models.ApiKey.id == row.key_id,
                (models.ApiKey.last_used_at.is_(None))
                | (models.ApiKey.last_used_at < func.now() - _LAST_USED_RESOLUTION),
            )
            .values(last_used_at=func.now())
        )
    return identity_of(row)


async def revoke(session: AsyncSession, key_id: str) -> None:
    revoked = await session.execute(
        update(models.ApiKey)
        .where(models.ApiKey.id == key_id, models.ApiKey.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(models.ApiKey.id)
    )
    if revoked.scalar_one_or_none() is None and await session.get(models.ApiKey, key_id) is None:
        raise not_found("api_key", key_id)


async def list_keys(session: AsyncSession, tenant: str | None = None) -> list[KeyInfo]:
    stmt = select(models.ApiKey).order_by(models.ApiKey.tenant_id, models.ApiKey.id)
    if tenant:
        stmt = stmt.where(models.ApiKey.tenant_id == tenant)
    return [
        KeyInfo(r.id, r.tenant_id, r.name, r.role, r.prefix, r.created_at, r.last_used_at, r.revoked_at)
        for r in (await session.execute(stmt)).scalars()
    ]


async def ensure_local_admin_key(session: AsyncSession, path: Path) -> str:
    """The embedded installation's admin key, created on first start.

    Returns the secret in ``path`` when it still authenticates; otherwise
    creates an admin key for the default tenant and writes it there (mode
    0600, replaced atomically).
    """
    existing = await asyncio.to_thread(_read_key, path)
    if existing and await authenticate(session, existing) is not None:
        return existing
    new = await create_key(session, tenant=DEFAULT_TENANT, role="admin", name="local admin")
    await asyncio.to_thread(write_secret, path, new.secret)
    return new.secret


def _read_key(path: Path) -> str:
    return path.read_text().strip() if path.is_file() else ""


@dataclass(frozen=True)
class TenantInfo:
    tenant_id: str
    created_at: datetime
    # Overrides of the control plane's defaults (None: the default; 0: no limit).
    max_unfinished_runs: int | None
    requests_per_second: float | None
    active_keys: int
    allow_full_access: bool


# Marks a limit to set back to the control plane's default.
DEFAULT_LIMIT = -1


async def set_tenant_limits(
    session: AsyncSession,
    tenant: str,
    *,
    max_unfinished_runs: int | None = None,
    requests_per_second: float | None = None,
    allow_full_access: bool | None = None,
) -> None:
    """Override a tenant's limits (created if new). None leaves a limit as it
    is; :data:`DEFAULT_LIMIT` returns it to the default; 0 lifts it.
    ``allow_full_access`` grants or withdraws full access (None: unchanged)."""
    await ensure_tenant(session, tenant)
    values: dict[str, int | float | bool | None] = {}
    if allow_full_access is not None:
        values["allow_full_access"] = allow_full_access
    for column, value in (
        ("max_unfinished_runs", max_unfinished_runs),
        ("requests_per_second", requests_per_second),
    ):
        if value is None:
            continue
        if value < 0 and value != DEFAULT_LIMIT:
            raise invalid_argument(column, "must be 0 (no limit) or more")
        values[column] = None if value == DEFAULT_LIMIT else value
    if values:
        await session.execute(update(models.Tenant).where(models.Tenant.id == tenant).values(**values))


async def list_tenants(session: AsyncSession) -> list[TenantInfo]:
    active = (
        select(func.count())
        .where(models.ApiKey.tenant_id == models.Tenant.id, models.ApiKey.revoked_at.is_(None))
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            models.Tenant.id,
            models.Tenant.created_at,
            models.Tenant.max_unfinished_runs,
            models.Tenant.requests_per_second,
            active,
            models.Tenant.allow_full_access,
        ).order_by(models.Tenant.id)
    )
    return [TenantInfo(*row) for row in rows]
