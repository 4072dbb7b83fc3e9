"""Telling "the database is unreachable" from every other database error.

A restart, a failover or a cut connection is not the caller's fault and
passes: gRPC answers UNAVAILABLE (retry), and background work waits and
tries again instead of giving up on a run.
"""

from __future__ import annotations

import psycopg
from sqlalchemy import exc as sa_exc


def is_unavailable(error: BaseException) -> bool:
    """True when ``error`` (or what caused it) means the database cannot be reached now."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(
            current,
            (sa_exc.TimeoutError, psycopg.OperationalError, psycopg.InterfaceError, ConnectionError),
        ):
            return True
        current = current.__cause__ or current.__context__
    return False
