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
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from common import ids
from common.db import models
from common.errors import invalid_argument, not_found
from control_plane.auth import DEFAULT_TENANT, Caller

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


async def authenticate(session: AsyncSession, secret: str) -> Caller | None:
    """The caller a key stands for; None for an unknown or revoked key."""
    if not secret.startswith(KEY_PREFIX):
        return None
    row = (
        await session.execute(
            select(models.ApiKey.id, models.ApiKey.tenant_id, models.ApiKey.role).where(
                models.ApiKey.key_hash == key_hash(secret), models.ApiKey.revoked_at.is_(None)
            )
        )
    ).one_or_none()
    if row is None:
        return None
    return Caller(tenant_id=row.tenant_id, key_id=row.id, role=row.role)


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
    await asyncio.to_thread(_write_key, path, new.secret)
    return new.secret


def _read_key(path: Path) -> str:
    return path.read_text().strip() if path.is_file() else ""


def _write_key(path: Path, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    os.replace(tmp, path)
