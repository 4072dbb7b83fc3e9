"""An embedded PostgreSQL server for installations without a database URL.

When ``CCPLANE_DATABASE_URL`` is not set, ``ccplane up`` runs PostgreSQL from
the ``pgserver`` wheel with its data in ``<data-dir>/postgres``, listening on
a Unix socket only, and uses a ``ccplane`` database in it. The calls block;
async callers run them in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer

log = logging.getLogger(__name__)

DATABASE_NAME = "ccplane"


class _StartupChatterAtDebug(logging.Filter):
    """pgserver logs every initdb and pg_ctl run, with all their output, at
    INFO: pages of start-up chatter, shown here only at DEBUG. Its warnings
    and errors (a server that failed to start, with its log) stay as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return log.isEnabledFor(logging.DEBUG)


_PGSERVER_CHATTER = _StartupChatterAtDebug()


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in ``<data_dir>/postgres``.

    ``start`` initialises the data directory on first use, starts the server
    (or reuses one already running on that directory), creates the
    ``ccplane`` database and returns its URL; ``stop`` shuts the server down.
    """

    def __init__(self, data_dir: str | Path, *, database: str = DATABASE_NAME) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.pgdata = self.data_dir / "postgres"
        self.database = database
        self._server: PostgresServer | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """URL of the ``ccplane`` database (``postgresql://…?host=<socket dir>``)."""
        if self._url is None:
            raise RuntimeError("embedded PostgreSQL is not started")
        return self._url

    def start(self) -> str:
        """Start the server if needed, ensure the database exists, return its URL."""
        if self._url is not None:
            return self._url
        with warnings.catch_warnings():
            # Without XDG_RUNTIME_DIR (root, containers) platformdirs warns on
            # pgserver's import and falls back to /tmp/runtime-<uid>: fine here.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
            # Imported late: it creates runtime directories on import.
            from pgserver.postgres_server import get_server

        logging.getLogger("pgserver").addFilter(_PGSERVER_CHATTER)  # once: a filter is added only once
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log.info("starting embedded PostgreSQL in %s", self.pgdata)
        server = get_server(self.pgdata, cleanup_mode="stop")
        self._server = server
        self._create_database(server.get_uri())
        self._url = server.get_uri(self.database)
        return self._url

    def stop(self) -> None:
        """Stop the server. Safe to call more than once, or without ``start``."""
        server, self._server, self._url = self._server, None, None
        if server is not None:
            log.info("stopping embedded PostgreSQL in %s", self.pgdata)
            server.cleanup()

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _create_database(self, admin_url: str) -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
