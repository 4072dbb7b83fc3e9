"""Connecting to PostgreSQL: URL normalisation, the async engine, sessions.

Both the control plane and the executor-manager open the database through
:class:`Database`, so that URLs are read the same way everywhere (a plain
``postgresql://`` URI from an operator, ``pgserver`` or ``psql`` works) and
every process gets the same pool and session settings.
"""

from __future__ import annotations

from urllib.parse import unquote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

DRIVER = "postgresql+psycopg"
_PLAIN_SCHEMES = frozenset({"postgres", "postgresql"})

DEFAULT_POOL_SIZE = 10
DEFAULT_MAX_OVERFLOW = 10


def normalize_url(url: str | URL) -> str:
    """Return ``url`` rewritten to use SQLAlchemy's psycopg 3 driver.

    ``postgres://`` and ``postgresql://`` become ``postgresql+psycopg://``; an
    explicit ``postgresql+psycopg://`` is kept. Unix-socket URIs stay
    working, both the ``?host=/socket/dir`` form (what ``pgserver`` returns)
    and the libpq form with a percent-encoded directory as host
    (``postgresql://%2Fvar%2Frun%2Fpostgresql/db``), which is moved to
    ``?host=`` because SQLAlchemy does not decode it. Anything that is not
    PostgreSQL raises ``ValueError``: ccplane runs on PostgreSQL only.
    """
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in _PLAIN_SCHEMES:
        parsed = parsed.set(drivername=DRIVER)
    elif parsed.drivername != DRIVER:
        raise ValueError(
            f"unsupported database URL scheme {parsed.drivername!r}: "
            "use postgresql:// (PostgreSQL through psycopg 3)"
        )
    if parsed.host and parsed.host.lower().startswith("%2f"):
        socket_dir = unquote(parsed.host)
        # URL.set() ignores None, so rebuild the URL without a host.
        parsed = URL.create(
            parsed.drivername,
            username=parsed.username,
            password=parsed.password,
            port=parsed.port,
            database=parsed.database,
            query={**parsed.query, "host": socket_dir},
        )
    return parsed.render_as_string(hide_password=False)


def create_engine(
    url: str,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    max_overflow: int = DEFAULT_MAX_OVERFLOW,
    application_name: str | None = None,
    echo: bool = False,
) -> AsyncEngine:
    """Create the async engine for ``url`` (normalised first).

    ``pool_pre_ping`` lets a process survive a database restart without
    handing out dead connections.
    """
    connect_args: dict[str, str] = {}
    if application_name:
        connect_args["application_name"] = application_name
    return create_async_engine(
        normalize_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        connect_args=connect_args,
        echo=echo,
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit.

    Under asyncio an expired attribute cannot be lazily re-loaded, so
    ``expire_on_commit`` is off: read what you need, then commit.
    """
    return async_sessionmaker(engine, expire_on_commit=False)


class Database:
    """One process's handle on PostgreSQL: the engine and its session factory."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        max_overflow: int = DEFAULT_MAX_OVERFLOW,
        application_name: str | None = None,
        echo: bool = False,
    ) -> None:
        self.url = normalize_url(url)
        self.engine = create_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            application_name=application_name,
            echo=echo,
        )
        self.sessions = create_session_factory(self.engine)

    def session(self) -> AsyncSession:
        """A new session; use it as ``async with db.session() as s, s.begin():``."""
        return self.sessions()

    async def close(self) -> None:
        """Close every pooled connection. The object is unusable afterwards."""
        await self.engine.dispose()
