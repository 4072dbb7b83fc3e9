"""common.db.embedded: PostgreSQL from the pgserver wheel, as ``ccplane up`` uses it."""

from __future__ import annotations

import secrets
from pathlib import Path

import psutil
import psycopg
import pytest
from sqlalchemy import select

from common.db.embedded import EmbeddedPostgres
from common.db.engine import Database
from common.db.migrate import upgrade
from common.db.models import Tenant


def _running(pid: int) -> bool:
    # The stopped postmaster may linger as a zombie where PID 1 does not reap.
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow
async def test_embedded_server_starts_migrates_and_stops(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path)
    try:
        url = server.start()
        assert "/ccplane?host=" in url
        assert (tmp_path / "postgres" / "PG_VERSION").exists()
        pid = int((tmp_path / "postgres" / "postmaster.pid").read_text().splitlines()[0])

        await upgrade(url)
        db = Database(url)
        try:
            async with db.session() as session, session.begin():
                session.add(Tenant(id="ten_embedded", name="embedded"))
            async with db.session() as session:
                names = (await session.scalars(select(Tenant.name))).all()
        finally:
            await db.close()
        assert names == ["embedded"]
    finally:
        server.stop()

    assert not _running(pid)
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()
    server.stop()  # a second stop is harmless


def _postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[0])


@pytest.mark.slow
def test_restart_keeps_data_and_database(tmp_path: Path) -> None:
    token = secrets.token_hex(8)
    with EmbeddedPostgres(tmp_path) as first:
        url = first.url
        first_pid = _postmaster_pid(tmp_path)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (token text NOT NULL)")
            conn.execute("INSERT INTO kept (token) VALUES (%s)", (token,))
    assert not _running(first_pid), "the first server stopped: the second start is a real restart"

    with EmbeddedPostgres(tmp_path) as second:
        assert second.url == url
        assert _postmaster_pid(tmp_path) != first_pid
        with psycopg.connect(second.url) as conn:
            rows = conn.execute("SELECT token FROM kept").fetchall()
    assert rows == [(token,)], "the row written before the restart is read back after it"


def test_url_before_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = EmbeddedPostgres(tmp_path).url
