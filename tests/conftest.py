"""Fixtures shared by every test suite: a real PostgreSQL database per test run.

The server is, in order of preference: ``$CCPLANE_TEST_DATABASE_URL``; the
one on 127.0.0.1:5432 (user ``postgres``) when it answers; otherwise an
embedded ``pgserver`` in a temporary directory. On it, each test run creates
its own database (``ccplane_test_<random>``), migrates it once, and drops it
at the end. Tests share that database, so they create their own rows (ids are
unique) and never assume a table is empty.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from psycopg import sql
from sqlalchemy.engine import make_url

from common import ids
from common.credentials import INTERNAL_TOKEN_ENV
from common.db.embedded import EmbeddedPostgres
from common.db.engine import Database
from common.db.migrate import upgrade_sync
from common.db.models import AgentRun
from tests.keys import INTERNAL_TOKEN

# One internal credential for every service the tests start, in this process
# and in the processes it starts.
os.environ[INTERNAL_TOKEN_ENV] = INTERNAL_TOKEN
# Every service the tests start serves its metrics on a free port (never the
# defaults, 9464/9465, which tests running side by side would share).
os.environ.setdefault("CCPLANE_METRICS_PORT", "0")
os.environ.setdefault("CCPLANE_EXECUTOR_MANAGER_METRICS_PORT", "0")

LOCAL_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TEST_TENANT = "ten_test"


def libpq_url(url: str, *, database: str | None = None) -> str:
    """``url`` as psycopg/libpq accept it (no SQLAlchemy driver suffix)."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a database on the server the tests use, for administrative connections."""
    configured = os.environ.get("CCPLANE_TEST_DATABASE_URL")
    if configured:
        yield libpq_url(configured)
    elif _answers(LOCAL_SERVER_URL):
        yield LOCAL_SERVER_URL
    else:
        with EmbeddedPostgres(tmp_path_factory.mktemp("embedded-pg")) as server:
            yield server.url


def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server of ``server_url``; return its URL."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return libpq_url(server_url, database=name)


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name``, disconnecting whoever is still connected."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def db_url(postgres_server_url: str) -> Iterator[str]:
    """URL of this test run's own, migrated database."""
    name = f"ccplane_test_{secrets.token_hex(6)}"
    url = create_database(postgres_server_url, name)
    try:
        upgrade_sync(url)
        yield url
    finally:
        drop_database(postgres_server_url, name)


@pytest.fixture
def scratch_db_url(postgres_server_url: str) -> Iterator[str]:
    """URL of an empty, unmigrated database that lives for one test."""
    name = f"ccplane_scratch_{secrets.token_hex(6)}"
    url = create_database(postgres_server_url, name)
    try:
        yield url
    finally:
        drop_database(postgres_server_url, name)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def database(db_url: str) -> AsyncIterator[Database]:
    """Engine and session factory on the test database, shared by the session's tests."""
    db = Database(db_url, pool_size=5, max_overflow=10, application_name="ccplane-tests")
    try:
        yield db
    finally:
        await db.close()


class RunFactory:
    """Inserts ``agent_runs`` rows for tests, committed, in any status.

    Tests set the starting status directly; production code changes it only
    through ``control_plane.runs.state_machine.transition``.
    """

    def __init__(self, database: Database) -> None:
        self._database = database

    async def __call__(self, status: str = "queued", **fields: Any) -> str:
        values: dict[str, Any] = {
            "id": ids.new_id(ids.RUN),
            "tenant_id": TEST_TENANT,
            "provider": "codex-app-server",
            "model": "test-model",
            "prompt": "say hello",
            "status": status,
            **fields,
        }
        async with self._database.session() as session, session.begin():
            session.add(AgentRun(**values))
        return str(values["id"])


@pytest.fixture
def make_run(database: Database) -> RunFactory:
    """``await make_run("running", thread_id=…)`` inserts a run and returns its id."""
    return RunFactory(database)


pytest_plugins = ["tests.stack_fixtures"]
