"""AIP-158 paging: page sizes and opaque, tamper-evident page tokens.

A token encodes the last row's sort key and a fingerprint of the request's
filters; a token reused with other filters, or one that does not decode, is
rejected as INVALID_ARGUMENT naming ``page_token``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from common.errors import invalid_argument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_size(requested: int, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    """Validate ``page_size``: negative is an error, 0 means the default, large values are capped."""
    if requested < 0:
        raise invalid_argument("page_size", "must not be negative")
    if requested == 0:
        return default
    return min(requested, maximum)


def _fingerprint(filters: Sequence[Any]) -> str:
    return hashlib.sha256(json.dumps(list(filters), sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PageCursor:
    """The sort key of the last item of the previous page."""

    key: list[Any]


def encode_token(key: Sequence[Any], filters: Sequence[Any] = ()) -> str:
    raw = json.dumps({"k": list(key), "f": _fingerprint(filters)}, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str, filters: Sequence[Any] = (), *, key_length: int = 2) -> PageCursor | None:
    """Decode a page token; None for the first page."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        key = data["k"]
        fingerprint = data["f"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise invalid_argument("page_token", "malformed page token") from None
    if not isinstance(key, list) or len(key) != key_length:
        raise invalid_argument("page_token", "malformed page token")
    if fingerprint != _fingerprint(filters):
        raise invalid_argument("page_token", "page token was issued for a request with other filters")
    return PageCursor(key=key)
