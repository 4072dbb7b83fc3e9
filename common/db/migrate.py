"""Bringing a database's schema to the current Alembic head.

Every process that opens the database (control plane, executor-manager,
``ccplane up``) may call :func:`upgrade` on start. Several may start at the
same moment, so the upgrade runs in one transaction that first takes a
transaction-scoped advisory lock: the first process migrates, the others
wait, then find the schema already at head and do nothing.

The Alembic configuration is built in code (no ``alembic.ini`` needed in the
working directory); ``script_location`` is the ``migrations`` folder next to
this module. From a shell: ``python -m common.db.migrate [URL]``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text

from common.db.engine import normalize_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Key of the advisory lock held while migrating: "ccplane.migrate" (crc32).
MIGRATION_LOCK_KEY = 0x57DC_2AF9


def alembic_config(url: str | None = None) -> Config:
    """An Alembic ``Config`` pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # Percent signs are ConfigParser interpolation; escape them.
        config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def head_revision() -> str:
    """The revision the code expects the database to be at."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def upgrade_sync(url: str) -> None:
    """Upgrade the database at ``url`` to head; blocks (use :func:`upgrade` in async code)."""
    config = alembic_config(url)
    engine = create_engine(normalize_url(url), poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


async def upgrade(url: str) -> None:
    """Upgrade the database at ``url`` to head, safe to run from several processes at once."""
    await asyncio.to_thread(upgrade_sync, url)


def main(argv: list[str] | None = None) -> int:
    """``python -m common.db.migrate [URL]``; the URL defaults to $CCPLANE_DATABASE_URL."""
    args = sys.argv[1:] if argv is None else argv
    url = args[0] if args else os.environ.get("CCPLANE_DATABASE_URL")
    if not url:
        print("usage: python -m common.db.migrate URL (or set CCPLANE_DATABASE_URL)", file=sys.stderr)
        return 2
    upgrade_sync(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
