"""Who is calling: authentication, roles and the caller of the current request.

Every call to the control plane's public services carries an API key as
``authorization: Bearer <key>`` (gRPC metadata, or the HTTP header the
gateway and Envoy pass on). :class:`AuthInterceptor` authenticates it before
the handler runs, refuses non-admin keys on admin-only services, applies the
tenant's request rate, and makes the :class:`Caller` available to the handler
through :func:`current_caller`. Domain code takes that ``Caller`` as a
parameter, so tenant isolation is part of every query: another tenant's
resource is NOT_FOUND, never PERMISSION_DENIED, so its existence does not leak.

Lookups are cached for ``ttl`` seconds (``CCPLANE_AUTH_CACHE_TTL``): a
revoked key stops working within that time.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

import grpc
from sqlalchemy.exc import SQLAlchemyError

from common.db.engine import Database
from common.errors import permission_denied, unauthenticated, unavailable
from common.grpc_server import CallGuard, bearer_token
from control_plane import api_keys
from control_plane.api_keys import DEFAULT_TENANT
from control_plane.limits import UNLIMITED, RateLimiter, TenantLimits

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
        if not secret.startswith(api_keys.KEY_PREFIX):
            return None  # not shaped like a key: no database round trip
        try:
            async with self._db.session() as session, session.begin():
                key = await api_keys.authenticate(session, secret, touch=True)
        except SQLAlchemyError as exc:
            log.warning("cannot check an API key", extra={"error": str(exc)})
            raise unavailable("AUTH_UNAVAILABLE", "credentials cannot be checked right now; retry") from exc
        caller = None
        if key is not None:
            limits = self._defaults.overridden(key.max_unfinished_runs, key.requests_per_second)
            caller = Caller(tenant_id=key.tenant_id, key_id=key.key_id, role=key.role, limits=limits)
        if len(self._cache) >= _CACHE_ENTRIES:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
            if len(self._cache) >= _CACHE_ENTRIES:
                self._cache.clear()
        if self._ttl > 0:
            self._cache[digest] = (caller, now + self._ttl)
        return caller


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
            raise unauthenticated("INVALID_API_KEY", "the API key is unknown or revoked")
        if method.startswith(ADMIN_SERVICES) and not caller.is_admin:
            raise permission_denied(
                "ADMIN_REQUIRED", f"{method.rsplit('/', 1)[-1]} needs an admin API key", method=method
            )
        self._rate.check(caller.tenant_id, caller.limits.requests_per_second)
        _current.set(caller)
