"""The object store's retry policy: its waits, its settings, its budget."""

from __future__ import annotations

import time

import pytest

from common.objectstore import (
    ObjectStoreError,
    ObjectStoreUnavailableError,
    RetryNotice,
    RetryPolicy,
    reporting_retries,
    retry_policy_from_env,
)
from common.objectstore.retry import retrying


def test_waits_double_up_to_the_ceiling_and_stay_within_the_budget() -> None:
    policy = RetryPolicy()
    assert [policy.nominal_delay(i) for i in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert policy.retries == 5 and policy.max_wait_s == 15.5, "the defaults give up well under 30 s"
    for retry in range(8):
        for _ in range(50):
            assert policy.nominal_delay(retry) / 2 <= policy.delay(retry) <= policy.nominal_delay(retry)
    assert RetryPolicy(retries=3, max_delay_s=0.2).max_wait_s == pytest.approx(0.6)


def test_settings_from_the_environment() -> None:
    assert retry_policy_from_env({}) == RetryPolicy()
    policy = retry_policy_from_env(
        {
            "CCPLANE_OBJECT_STORE_RETRIES": " 2 ",
            "CCPLANE_OBJECT_STORE_RETRY_MAX_S": "0.25",
            "CCPLANE_OBJECT_STORE_TIMEOUT_S": "4",
        }
    )
    assert (policy.retries, policy.max_delay_s, policy.timeout_s) == (2, 0.25, 4.0)
    assert retry_policy_from_env({"CCPLANE_OBJECT_STORE_RETRIES": "0"}).max_wait_s == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CCPLANE_OBJECT_STORE_RETRIES", "many"),
        ("CCPLANE_OBJECT_STORE_RETRIES", "-1"),
        ("CCPLANE_OBJECT_STORE_RETRIES", "21"),
        ("CCPLANE_OBJECT_STORE_RETRIES", "2.5"),
        ("CCPLANE_OBJECT_STORE_RETRY_MAX_S", "0"),
        ("CCPLANE_OBJECT_STORE_RETRY_MAX_S", "nan"),
        ("CCPLANE_OBJECT_STORE_RETRY_MAX_S", "inf"),
        ("CCPLANE_OBJECT_STORE_RETRY_MAX_S", "1s"),
        ("CCPLANE_OBJECT_STORE_TIMEOUT_S", "-3"),
        ("CCPLANE_OBJECT_STORE_TIMEOUT_S", "soon"),
    ],
)
def test_malformed_settings_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        retry_policy_from_env({name: value})


async def test_only_failures_that_may_pass_are_retried() -> None:
    policy = RetryPolicy(retries=3, max_delay_s=0.01, first_delay_s=0.01)
    notices: list[RetryNotice] = []
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ObjectStoreUnavailableError("connection refused")
        return "done"

    with reporting_retries(notices.append):
        assert await retrying(policy, "PutObject 'k'", flaky) == "done"
    assert calls == 3 and [n.attempt for n in notices] == [1, 2]
    assert notices[0].attempts == 4 and notices[0].error == "connection refused"

    async def refused() -> None:
        nonlocal calls
        calls += 1
        raise ObjectStoreError("AccessDenied")

    calls = 0
    with pytest.raises(ObjectStoreError, match="AccessDenied"):
        await retrying(policy, "GetObject 'k'", refused)
    assert calls == 1

    async def down() -> None:
        raise ObjectStoreUnavailableError("connection refused")

    started = time.monotonic()
    with pytest.raises(ObjectStoreUnavailableError, match="gave up after 4 attempts") as failed:
        await retrying(policy, "GetObject 'k'", down)
    assert failed.value.attempts == 4 and time.monotonic() - started < 1


async def test_a_failing_listener_does_not_stop_the_retries() -> None:
    def broken(notice: RetryNotice) -> None:
        raise RuntimeError("listener bug")

    calls = 0

    async def once_down() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ObjectStoreUnavailableError("reset")
        return calls

    with reporting_retries(broken):
        assert await retrying(RetryPolicy(first_delay_s=0.01), "HeadObject 'k'", once_down) == 2
