"""Resource identifiers: a short kind prefix plus a time-ordered ULID.

Ids sort by creation time (useful for paging and for reading logs), carry
their kind (``run_…``, ``ws_…``), and have a strict format so that a
malformed id can be rejected as INVALID_ARGUMENT before touching storage.
"""

from __future__ import annotations

import os
import re
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID_RE = "[0-9A-HJKMNP-TV-Z]{26}"

# Kind prefixes used across services. Keep them short and lower case.
RUN = "run"
WORKSPACE = "ws"
QUESTION = "hlq"
EXECUTOR = "exe"
LEASE = "lease"
API_KEY = "key"
TENANT = "ten"
AUDIT = "aud"
SESSION = "ses"


def new_ulid(now_ms: int | None = None) -> str:
    """Return a 26-character ULID (48-bit millisecond time + 80 random bits)."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 0x1F])
        value >>= 5
    return "".join(reversed(chars))


def new_id(kind: str) -> str:
    """Return a new id of the given kind, for example ``run_01J9Z…``."""
    return f"{kind}_{new_ulid()}"


def is_valid(kind: str, value: str) -> bool:
    """True when ``value`` is a well-formed id of ``kind``."""
    return re.fullmatch(f"{re.escape(kind)}_{_ULID_RE}", value) is not None
