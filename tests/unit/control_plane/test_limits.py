"""The per-tenant request-rate buckets, on a fake clock."""

from __future__ import annotations

import pytest

from common.errors import ServiceError
from control_plane.limits import BURST_SECONDS, RateLimiter, TenantLimits


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_calls_wait_for_tokens() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    rate = 4.0
    burst = int(rate * BURST_SECONDS)
    assert [limiter.take("t", rate) for _ in range(burst)] == [0.0] * burst
    wait = limiter.take("t", rate)
    assert wait == pytest.approx(1 / rate)
    clock.now += wait
    assert limiter.take("t", rate) == 0.0
    assert limiter.take("t", rate) == pytest.approx(1 / rate)


def test_buckets_refill_up_to_the_burst_only() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    limiter.take("t", 1.0)
    clock.now += 3600
    admitted = 0
    while limiter.take("t", 1.0) == 0.0:
        admitted += 1
    assert admitted == int(BURST_SECONDS)


def test_tenants_have_their_own_buckets_and_zero_means_unlimited() -> None:
    limiter = RateLimiter(Clock())
    assert limiter.take("a", 0.5) == 0.0
    assert limiter.take("a", 0.5) > 0
    assert limiter.take("b", 0.5) == 0.0
    assert all(limiter.take("c", 0) == 0.0 for _ in range(10_000))


def test_check_refuses_with_a_retry_hint_and_the_quota() -> None:
    limiter = RateLimiter(Clock())
    limiter.check("t", 0.5)
    with pytest.raises(ServiceError) as err:
        limiter.check("t", 0.5)
    status = err.value.to_status()
    assert err.value.reason == "RATE_LIMITED" and err.value.retry_after == pytest.approx(2.0)
    assert [d.type_url.rsplit(".", 1)[-1] for d in status.details] == [
        "ErrorInfo",
        "RetryInfo",
        "QuotaFailure",
    ]


def test_tenant_overrides_replace_only_what_they_set() -> None:
    defaults = TenantLimits(max_unfinished_runs=100, requests_per_second=50)
    assert defaults.overridden(None, None) == defaults
    assert defaults.overridden(3, None) == TenantLimits(3, 50)
    assert defaults.overridden(0, 0.0) == TenantLimits(0, 0.0)
