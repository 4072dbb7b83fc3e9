"""Retrying object store requests that failed for a passing reason.

A request that fails because the store is unreachable or struggling
(:class:`ObjectStoreUnavailableError`: connection refused or reset, a
timeout, a 5xx answer, throttling) is tried again after a wait that starts
at half a second and doubles up to a ceiling, a bounded number of times. A
request the store refused for good (not found, access denied, a bad
request) is never retried. The S3 backend sends each of its requests this
way; a local directory has no failures that pass.

Settings, from the environment (:func:`retry_policy_from_env`; a malformed
value stops the service at start-up, naming the variable):

- ``CCPLANE_OBJECT_STORE_RETRIES`` (default 5, 0 to 20): retries after the
  first attempt;
- ``CCPLANE_OBJECT_STORE_RETRY_MAX_S`` (default 8): the longest wait between
  two attempts;
- ``CCPLANE_OBJECT_STORE_TIMEOUT_S`` (default 30): how long one attempt
  waits to connect, and then for each part of the answer.

With the defaults a request that keeps failing at once gives up after 6
attempts and at most 15.5 s of waiting (each wait is drawn between half and
all of its nominal length, so that clients that failed together do not
retry together).

Whoever wants to hear of retries — a run's session, to tell its user that
the store is unreachable — sets a listener for the current task with
:func:`reporting_retries`; tasks started inside it inherit the listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from common.objectstore.base import ObjectStoreError, ObjectStoreUnavailableError

log = logging.getLogger(__name__)

RETRIES_VAR = "CCPLANE_OBJECT_STORE_RETRIES"
RETRY_MAX_VAR = "CCPLANE_OBJECT_STORE_RETRY_MAX_S"
TIMEOUT_VAR = "CCPLANE_OBJECT_STORE_TIMEOUT_S"
MAX_RETRIES = 20
FIRST_DELAY_S = 0.5

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How the requests of one store are attempted."""

    retries: int = 5
    max_delay_s: float = 8.0
    timeout_s: float = 30.0
    first_delay_s: float = FIRST_DELAY_S

    def __post_init__(self) -> None:
        if not 0 <= self.retries <= MAX_RETRIES:
            raise ValueError(f"retries must be from 0 to {MAX_RETRIES}")
        if not self.max_delay_s > 0 or not self.timeout_s > 0 or not self.first_delay_s > 0:
            raise ValueError("retry delays and the request timeout must be positive")

    def nominal_delay(self, retry: int) -> float:
        """The wait before retry number ``retry`` (0 is the first), before jitter."""
        return min(self.max_delay_s, self.first_delay_s * 2.0 ** min(retry, 32))

    def delay(self, retry: int) -> float:
        return self.nominal_delay(retry) * random.uniform(0.5, 1.0)

    @property
    def max_wait_s(self) -> float:
        """The most a request waits between attempts before it gives up."""
        return sum(self.nominal_delay(i) for i in range(self.retries))


def retry_policy_from_env(env: Mapping[str, str] | None = None) -> RetryPolicy:
    """The policy the ``CCPLANE_OBJECT_STORE_*`` variables set; ``ValueError``
    naming the variable when one is malformed."""
    env = os.environ if env is None else env
    defaults = RetryPolicy()
    retries = _read(env, RETRIES_VAR, int, defaults.retries, f"a whole number from 0 to {MAX_RETRIES}")
    if not 0 <= retries <= MAX_RETRIES:
        raise ValueError(f"{RETRIES_VAR} must be a whole number from 0 to {MAX_RETRIES}, not {retries}")
    max_delay = _read(env, RETRY_MAX_VAR, float, defaults.max_delay_s, "a number of seconds")
    if not 0 < max_delay <= 300:
        raise ValueError(f"{RETRY_MAX_VAR} must be more than 0 and at most 300 seconds, not {max_delay:g}")
    timeout = _read(env, TIMEOUT_VAR, float, defaults.timeout_s, "a number of seconds")
    if not 0 < timeout <= 3600:
        raise ValueError(f"{TIMEOUT_VAR} must be more than 0 and at most 3600 seconds, not {timeout:g}")
    return RetryPolicy(retries=retries, max_delay_s=max_delay, timeout_s=timeout)


def _read(env: Mapping[str, str], name: str, kind: Callable[[str], T], default: T, what: str) -> T:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be {what}, not {raw!r}") from None
    return value


@dataclass(frozen=True)
class RetryNotice:
    """One failed attempt that will be retried."""

    # What was attempted, e.g. "PutObject 'blobs/…'".
    what: str
    # The attempt that failed (1 is the first) and how many there may be.
    attempt: int
    attempts: int
    # The wait before the next attempt.
    delay_s: float
    # How long the request has been trying, and the most it waits in all.
    elapsed_s: float
    max_wait_s: float
    error: str


RetryListener = Callable[[RetryNotice], None]
_listener: ContextVar[RetryListener | None] = ContextVar("ccplane_object_store_retry_listener", default=None)


@contextlib.contextmanager
def reporting_retries(listener: RetryListener) -> Iterator[None]:
    """Call ``listener`` for each retry of a store request made in this
    task, or in a task it starts, until the block ends."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


class Attempts:
    """The attempts of one request: call :meth:`failed` with each failure."""

    def __init__(self, policy: RetryPolicy, what: str) -> None:
        self.policy = policy
        self.what = what
        self.made = 1
        self._started = time.monotonic()

    async def failed(self, exc: ObjectStoreError) -> None:
        """Wait before the next attempt; or raise ``exc`` when it is not worth
        retrying, and :class:`ObjectStoreUnavailableError` once the retries
        are used up."""
        if not isinstance(exc, ObjectStoreUnavailableError):
            raise exc
        elapsed = time.monotonic() - self._started
        if self.made > self.policy.retries:
            raise ObjectStoreUnavailableError(
                f"the object store is unreachable: {exc} (gave up after {self.made} "
                f"attempt{'s' if self.made > 1 else ''} over {elapsed:.1f} s)",
                attempts=self.made,
                elapsed_s=elapsed,
            ) from exc
        delay = self.policy.delay(self.made - 1)
        notice = RetryNotice(
            self.what, self.made, self.policy.retries + 1, delay, elapsed, self.policy.max_wait_s, str(exc)
        )
        log.warning(
            "object store request failed; retrying in %.2f s (attempt %d of %d): %s",
            delay,
            notice.attempt,
            notice.attempts,
            exc,
        )
        listener = _listener.get()
        if listener is not None:
            try:
                listener(notice)
            except Exception:
                log.exception("object store retry listener failed")
        self.made += 1
        await asyncio.sleep(delay)


async def retrying(policy: RetryPolicy, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
    """``await attempt()``, tried again on :class:`ObjectStoreUnavailableError`
    as ``policy`` says."""
    attempts = Attempts(policy, what)
    while True:
        try:
            return await attempt()
        except ObjectStoreUnavailableError as exc:
            await attempts.failed(exc)
