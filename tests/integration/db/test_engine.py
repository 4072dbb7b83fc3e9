"""common.db.engine: URL normalisation and the Database handle."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from common.db.engine import Database, normalize_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/ccplane", "postgresql+psycopg://u:p@db:5432/ccplane"),
        ("postgres://u:p@db/ccplane", "postgresql+psycopg://u:p@db/ccplane"),
        ("postgresql+psycopg://u@db/ccplane", "postgresql+psycopg://u@db/ccplane"),
        (
            "postgresql://u@db/ccplane?sslmode=require",
            "postgresql+psycopg://u@db/ccplane?sslmode=require",
        ),
        (
            "postgresql://postgres:@/postgres?host=/tmp/pg",
            "postgresql+psycopg://postgres:@/postgres?host=%2Ftmp%2Fpg",
        ),
        (
            "postgresql://postgres@%2Fvar%2Frun%2Fpostgresql/ccplane",
            "postgresql+psycopg://postgres@/ccplane?host=%2Fvar%2Frun%2Fpostgresql",
        ),
    ],
)
def test_normalize_url(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


@pytest.mark.parametrize("url", ["sqlite:///x.db", "mysql://u@h/db", "postgresql+asyncpg://u@h/db"])
def test_normalize_url_refuses_other_drivers(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported database URL"):
        normalize_url(url)


async def test_database_runs_queries_and_closes(db_url: str) -> None:
    db = Database(db_url, pool_size=2, max_overflow=0, application_name="ccplane-test-engine")
    try:
        async with db.session() as session:
            name = await session.scalar(text("SELECT current_setting('application_name')"))
        assert name == "ccplane-test-engine"
    finally:
        await db.close()
