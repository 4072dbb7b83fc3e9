"""The Alembic migrations: they match the models and are safe to run concurrently."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, Engine, create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from common.db.engine import normalize_url
from common.db.migrate import alembic_config, head_revision, upgrade
from common.db.models import Base


@pytest.fixture
def sync_engine(db_url: str) -> Iterator[Engine]:
    engine = create_engine(normalize_url(db_url))
    yield engine
    engine.dispose()


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_database_is_at_head(sync_engine: Engine) -> None:
    assert _revision(sync_engine) == head_revision()


def test_head_matches_models(sync_engine: Engine) -> None:
    with sync_engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_check_constraints_match_models(sync_engine: Engine) -> None:
    # compare_metadata does not compare CHECK constraints.
    database = inspect(sync_engine)
    for table in Base.metadata.sorted_tables:
        expected = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        actual = {c["name"] for c in database.get_check_constraints(table.name)}
        assert actual == expected, table.name


def test_status_check_refuses_unknown_status(sync_engine: Engine) -> None:
    with sync_engine.connect() as conn, pytest.raises(IntegrityError, match="ck_agent_runs_status"):
        conn.execute(
            text(
                "INSERT INTO agent_runs (id, tenant_id, provider, prompt, status) "
                "VALUES ('run_x', 't', 'p', 'x', 'paused')"
            )
        )


async def test_concurrent_upgrades_from_empty(scratch_db_url: str) -> None:
    """Several processes starting at once all succeed; one of them migrates."""
    await asyncio.gather(*(upgrade(scratch_db_url) for _ in range(4)))
    engine = create_engine(normalize_url(scratch_db_url))
    try:
        assert _revision(engine) == head_revision()
        assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(scratch_db_url: str) -> None:
    config = alembic_config(scratch_db_url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    engine = create_engine(normalize_url(scratch_db_url))
    try:
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        command.upgrade(config, "head")
        assert _revision(engine) == head_revision()
    finally:
        engine.dispose()
