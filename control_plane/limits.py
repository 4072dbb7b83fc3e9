"""Per-tenant limits: unfinished runs, and requests per second.

Every tenant gets the control plane's defaults (``CCPLANE_TENANT_MAX_RUNS``,
``CCPLANE_TENANT_RPS``) unless its row in ``tenants`` overrides them
(``ccplane tenants set-limits``); 0 means no limit.

- *Unfinished runs* (queued, starting, running, waiting for a human, lost)
  are counted in PostgreSQL when a run is created or a finished run takes a
  follow-up, under a per-tenant transaction lock, so concurrent requests
  cannot overshoot the limit and every control plane sees the same count.
  Counting queued runs too keeps one tenant from filling the shared queue.
- *Requests per second* is a token bucket per tenant in each control-plane
  process (bursts of up to two seconds' worth), checked before a call runs;
  a stream counts once, when it opens. With N control planes behind a load
  balancer a tenant gets up to N times the rate.

Both refuse with RESOURCE_EXHAUSTED carrying a ``RetryInfo`` (HTTP 429 with
``Retry-After`` through the gateway) and a ``QuotaFailure`` naming the limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import models
from common.errors import resource_exhausted

# A bucket holds this many seconds' worth of requests.
BURST_SECONDS = 2.0
# When to try again after hitting the unfinished-runs limit: a guess, since
# no one knows when a run will finish.
RUN_QUOTA_RETRY_AFTER = 5.0


@dataclass(frozen=True)
class TenantLimits:
    # Runs not yet finished, at most (0: no limit).
    max_unfinished_runs: int = 0
    # Sustained calls per second (0: no limit).
    requests_per_second: float = 0.0

    def overridden(self, max_unfinished_runs: int | None, requests_per_second: float | None) -> TenantLimits:
        return TenantLimits(
            self.max_unfinished_runs if max_unfinished_runs is None else max_unfinished_runs,
            self.requests_per_second if requests_per_second is None else requests_per_second,
        )


UNLIMITED = TenantLimits()


async def check_run_quota(session: AsyncSession, tenant_id: str, limits: TenantLimits) -> None:
    """Refuse one more unfinished run for the tenant when it is at its limit.

    Call inside the transaction that creates (or re-queues) the run: the
    lock taken here is held until it commits.
    """
    limit = limits.max_unfinished_runs
    if limit <= 0:
        return
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"ccplane.tenant-runs:{tenant_id}", 0)))
    )
    unfinished = await session.scalar(
        select(func.count())
        .select_from(models.AgentRun)
        .where(
            models.AgentRun.tenant_id == tenant_id,
            models.AgentRun.status.in_(models.UNFINISHED_RUN_STATUSES),
        )
    )
    if (unfinished or 0) >= limit:
        raise resource_exhausted(
            "RUN_QUOTA_EXCEEDED",
            f"tenant {tenant_id!r} has {unfinished} unfinished runs, its limit; "
            "wait for one to finish or stop one",
            retry_after=RUN_QUOTA_RETRY_AFTER,
            quota=(f"tenant:{tenant_id}", f"at most {limit} unfinished runs"),
            limit=str(limit),
        )


class RateLimiter:
    """Token buckets, one per tenant, refilled at the tenant's rate."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # tenant -> (tokens, last refill)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, tenant_id: str, rate: float) -> float:
        """0 when a call is admitted (one token taken), else the seconds
        until the next token."""
        if rate <= 0:
            return 0.0
        burst = max(1.0, rate * BURST_SECONDS)
        now = self._clock()
        tokens, last = self._buckets.get(tenant_id, (burst, now))
        tokens = min(burst, tokens + (now - last) * rate)
        if tokens >= 1.0:
            self._buckets[tenant_id] = (tokens - 1.0, now)
            return 0.0
        self._buckets[tenant_id] = (tokens, now)
        return (1.0 - tokens) / rate

    def check(self, tenant_id: str, rate: float) -> None:
        """Take a token or refuse with RESOURCE_EXHAUSTED and a retry hint."""
        wait = self.take(tenant_id, rate)
        if wait > 0:
            shown = f"{rate:g}"
            raise resource_exhausted(
                "RATE_LIMITED",
                f"tenant {tenant_id!r} is over its limit of {shown} requests per second; "
                f"retry in {math.ceil(wait * 1000)} ms",
                retry_after=wait,
                quota=(f"tenant:{tenant_id}", f"at most {shown} requests per second"),
                limit=shown,
            )
