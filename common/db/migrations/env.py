"""Alembic environment for the ccplane schema.

Run through :mod:`common.db.migrate`, which hands over an open (sync
psycopg) connection in ``config.attributes["connection"]``. Without one
(the ``alembic`` command line with ``-x url=…`` or ``sqlalchemy.url``), a
connection is opened from the URL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from common.db.engine import normalize_url
from common.db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass -x url=postgresql://… or use common.db.migrate")
    return normalize_url(url)


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
    else:
        engine = create_engine(_url(), poolclass=pool.NullPool)
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
