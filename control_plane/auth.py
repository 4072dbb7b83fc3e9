"""Who is calling: authentication, roles and the caller of the current request.

Every call to the control plane's public services carries an API key as
``authorization: Bearer <key>`` (gRPC metadata, or the HTTP header the
gateway and Envoy pass on), or a browser session token in its place (the
gateway sends the token of its session cookie; see
:mod:`control_plane.sessions`). :class:`AuthInterceptor` authenticates it before
the handler runs, refuses non-admin keys on admin-only services, applies the
tenant's request rate, and makes the :class:`Caller` available to the handler
through :func:`current_caller`. Domain code takes that ``Caller`` as a
parameter, so tenant isolation is part of every query: another tenant's
resource is NOT_FOUND, never PERMISSION_DENIED, so its existence does not leak.

Lookups are cached for ``ttl`` seconds (``CCPLANE_AUTH_CACHE_TTL``): a
revoked key, and every session of it, stops working within that time.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
from sqlalchemy.exc import SQLAlchemyError

from common.db.engine import Database
from common.errors import permission_denied, unauthenticated, unavailable
from common.grpc_server import CallGuard, bearer_token
from control_plane import api_keys
from control_plane.api_keys import DEFAULT_TENANT
from control_plane.limits import UNLIMITED, RateLimiter, TenantLimits
from control_plane.sessions import store as sessions

log = logging.getLogger(__name__)

# Services only admin keys may call: they act on every tenant's runs.
ADMIN_SERVICES = ("/ccplane.v1.ReconcileService/",)
DEFAULT_CACHE_TTL = 5.0
_CACHE_ENTRIES = 10_000

__all__ = ["DEFAULT_TENANT", "AuthInterceptor", "Authenticator", "Caller", "current_caller"]


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    key_id: str = ""
    role: str = "user"
    limits: TenantLimits = UNLIMITED
    # Set when the credential is a browser session rather than the key itself.
    session_id: str = ""
    session_expires_at: datetime | None = None
    # The tenant may run agents with full access (see control_plane/runs/permissions.py).
    full_access: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


_current: ContextVar[Caller | None] = ContextVar("ccplane_caller", default=None)


def current_caller() -> Caller:
    """The authenticated caller of the call being served.

    Fails closed: a handler reached without authentication answers
    UNAUTHENTICATED rather than acting for anyone.
    """
    caller = _current.get()
    if caller is None:
        raise unauthenticated("MISSING_CREDENTIALS", "this call was not authenticated")
    return caller


class Authenticator:
    """API key → caller, with a short-lived cache in front of PostgreSQL."""

    def __init__(
        self,
        db: Database,
        defaults: TenantLimits = UNLIMITED,
        *,
        ttl: float = DEFAULT_CACHE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._defaults = defaults
        self._ttl = ttl
        self._clock = clock
        # sha256(secret) -> (caller or None for a refused key, expiry)
        self._cache: dict[str, tuple[Caller | None, float]] = {}

    async def caller(self, secret: str) -> Caller | None:
        """The caller ``secret`` stands for; None when unknown or revoked."""
        digest = hashlib.sha256(secret.encode()).hexdigest()
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        if not secret.startswith((api_keys.KEY_PREFIX, sessions.TOKEN_PREFIX)):
            return None  # not shaped like a credential: no database round trip
        try:
            caller = await self._lookup(secret)
        except SQLAlchemyError as exc:
            log.warning("cannot check a credential", extra={"error": str(exc)})
            raise unavailable("AUTH_UNAVAILABLE", "credentials cannot be checked right now; retry") from exc
        if len(self._cache) >= _CACHE_ENTRIES:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
            if len(self._cache) >= _CACHE_ENTRIES:
                self._cache.clear()
        ttl = self._ttl
        if caller is not None and caller.session_expires_at is not None:
            # A session must not outlive its expiry in the cache.
            ttl = min(ttl, (caller.session_expires_at - datetime.now(UTC)).total_seconds())
        if ttl > 0:
            self._cache[digest] = (caller, now + ttl)
        return caller

    def forget(self, secret: str) -> None:
        """Drop ``secret`` from the cache (a session that just ended)."""
        self._cache.pop(hashlib.sha256(secret.encode()).hexdigest(), None)

    async def _lookup(self, secret: str) -> Caller | None:
        session_id, expires_at = "", None
        async with self._db.session() as session, session.begin():
            if sessions.is_session_token(secret):
                found = await sessions.authenticate(session, secret)
                key = None if found is None else found.key
                if found is not None:
                    session_id, expires_at = found.session_id, found.expires_at
            else:
                key = await api_keys.authenticate(session, secret, touch=True)
        if key is None:
            return None
        limits = self._defaults.overridden(key.max_unfinished_runs, key.requests_per_second)
        return Caller(
            tenant_id=key.tenant_id,
            key_id=key.key_id,
            role=key.role,
            limits=limits,
            session_id=session_id,
            session_expires_at=expires_at,
            full_access=key.allow_full_access,
        )


class AuthInterceptor(CallGuard):
    """Authenticates every call, checks roles and the tenant's request rate."""

    def __init__(self, authenticator: Authenticator, rate_limiter: RateLimiter | None = None) -> None:
        self._authenticator = authenticator
        self._rate = rate_limiter or RateLimiter()

    async def admit(self, method: str, context: grpc.aio.ServicerContext) -> None:
        secret = bearer_token(context)
        if not secret:
            raise unauthenticated("MISSING_CREDENTIALS", "send an API key as 'authorization: Bearer <key>'")
        caller = await self._authenticator.caller(secret)
        if caller is None:
            if sessions.is_session_token(secret):
                raise unauthenticated("SESSION_EXPIRED", "the session has ended; sign in again")
            raise unauthenticated("INVALID_API_KEY", "the API key is unknown or revoked")
        if method.startswith(ADMIN_SERVICES) and not caller.is_admin:
            raise permission_denied(
                "ADMIN_REQUIRED", f"{method.rsplit('/', 1)[-1]} needs an admin API key", method=method
            )
        self._rate.check(caller.tenant_id, caller.limits.requests_per_second)
        _current.set(caller)
