"""Browser sessions in PostgreSQL: start, look up, end.

A session token is ``ccs_`` followed by 43 random URL-safe characters; only
its SHA-256 is stored. A session stands for the API key that started it: it
has that key's tenant and role, and it stops working when it expires, when
it is ended (sign-out) or when its key is revoked — the lookup joins the key
and checks all three.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from common import ids
from common.db import models
from control_plane.api_keys import IDENTITY_COLUMNS, KeyIdentity, identity_of

TOKEN_PREFIX = "ccs_"


@dataclass(frozen=True)
class SessionIdentity:
    """What a valid session token stands for."""

    session_id: str
    key: KeyIdentity
    key_name: str
    expires_at: datetime


@dataclass(frozen=True)
class NewSession:
    session_id: str
    expires_at: datetime
    # The token itself: shown once, never stored.
    token: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_session_token(secret: str) -> bool:
    return secret.startswith(TOKEN_PREFIX)


async def start(session: AsyncSession, key_id: str, tenant_id: str, ttl: timedelta) -> NewSession:
    """Start a session for API key ``key_id``, ending ``ttl`` from now. Call inside a transaction."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session_id = ids.new_id(ids.SESSION)
    now = await session.scalar(select(func.now()))
    assert isinstance(now, datetime)
    expires_at = now + ttl
    session.add(
        models.BrowserSession(
            id=session_id,
            token_hash=token_hash(token),
            api_key_id=key_id,
            tenant_id=tenant_id,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return NewSession(session_id, expires_at, token)


async def authenticate(session: AsyncSession, token: str) -> SessionIdentity | None:
    """What ``token`` stands for; None when unknown, ended, expired or its key revoked."""
    if not is_session_token(token):
        return None
    row = (
        await session.execute(
            select(
                models.BrowserSession.id,
                models.BrowserSession.expires_at,
                models.ApiKey.name,
                *IDENTITY_COLUMNS,
            )
            .join(models.ApiKey, models.ApiKey.id == models.BrowserSession.api_key_id)
            .join(models.Tenant, models.Tenant.id == models.ApiKey.tenant_id)
            .where(
                models.BrowserSession.token_hash == token_hash(token),
                models.BrowserSession.ended_at.is_(None),
                models.BrowserSession.expires_at > func.now(),
                models.ApiKey.revoked_at.is_(None),
            )
        )
    ).one_or_none()
    if row is None:
        return None
    return SessionIdentity(row.id, identity_of(row), row.name, row.expires_at)


async def end(session: AsyncSession, session_id: str) -> bool:
    """End a session (sign-out); False when it had already ended."""
    ended = await session.execute(
        update(models.BrowserSession)
        .where(models.BrowserSession.id == session_id, models.BrowserSession.ended_at.is_(None))
        .values(ended_at=func.now())
        .returning(models.BrowserSession.id)
    )
    return ended.scalar_one_or_none() is not None


async def key_name(session: AsyncSession, key_id: str) -> str:
    name = await session.scalar(select(models.ApiKey.name).where(models.ApiKey.id == key_id))
    return name or ""
