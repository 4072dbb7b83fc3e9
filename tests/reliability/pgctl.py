"""Start or stop an embedded PostgreSQL from a process of its own.

``python -m tests.reliability.pgctl start|stop DATA_DIR``; ``start`` prints
the URL of the ``ccplane`` database.

pgserver runs ``pg_ctl`` as a system user of its own (``subprocess`` with
``user=``), which looks up groups between fork and exec: not safe from a
process with threads, as the test process is (gRPC's), where it crashed
now and then. From here, a fresh single-threaded process, it is safe. The
server outlives this process (no cleanup at exit).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

DATABASE = "ccplane"


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        print("usage: python -m tests.reliability.pgctl start|stop DATA_DIR", file=sys.stderr)
        return 2
    action, pgdata = argv[1], Path(argv[2]) / "postgres"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        from pgserver.postgres_server import get_server

    if action == "stop":
        get_server(pgdata, cleanup_mode="stop").cleanup()
        return 0
    Path(argv[2]).mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode=None)
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    print(server.get_uri(DATABASE))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
