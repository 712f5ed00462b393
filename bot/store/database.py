"""One database per process: the engine, its session factory, and the unit of work.

SQLite (the default, a file in the data directory) runs in WAL mode so readers never wait for the
writer; each transaction starts with `BEGIN IMMEDIATE` so two writers queue on the busy timeout
instead of failing half-way. PostgreSQL is used through asyncpg. Either way, a database that is
down, unreachable or locked for too long raises `DatabaseUnavailable`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from .errors import DatabaseUnavailable

log = logging.getLogger(__name__)

SQLITE_FILE = "bot.sqlite3"
# How long a statement waits for a lock (SQLite's writer lock, PostgreSQL's row locks) before
# giving up with DatabaseUnavailable; and how long a PostgreSQL connect may take.
LOCK_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 5.0
SUPPORTED_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")


def default_url(data_dir: Path) -> str:
    """The SQLite file in the data directory (created with its directory on first use)."""
    return f"sqlite+aiosqlite:///{(Path(data_dir) / SQLITE_FILE).resolve()}"


def check_url(url: str | URL) -> URL:
    """Parse `url` and refuse drivers the store does not support, naming the ones it does."""
    parsed = make_url(url)
    if parsed.drivername not in SUPPORTED_SCHEMES:
        raise ValueError(
            f"database URL scheme {parsed.drivername!r} is not supported; use one of "
            + ", ".join(f"{s}://" for s in SUPPORTED_SCHEMES)
        )
    return parsed


def make_engine(url: str | URL, *, lock_timeout_s: float = LOCK_TIMEOUT_S) -> AsyncEngine:
    """An async engine for `url` with the connection settings above."""
    parsed = check_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed, connect_args={"timeout": lock_timeout_s})
        _sqlite_pragmas_and_immediate_begin(engine, lock_timeout_s)
        return engine
    return create_async_engine(
        parsed,
        pool_pre_ping=True,  # a restarted server: the next use reconnects instead of failing once
        connect_args={
            "timeout": CONNECT_TIMEOUT_S,
            "server_settings": {"lock_timeout": str(int(lock_timeout_s * 1000))},
        },
    )


def _sqlite_pragmas_and_immediate_begin(engine: AsyncEngine, lock_timeout_s: float) -> None:
    """WAL, busy timeout and foreign keys on every connection; our own BEGIN IMMEDIATE per transaction."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own implicit BEGIN (deferred, and only before writes) is turned off; see _on_begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(
            "PRAGMA synchronous=NORMAL"
        )  # safe with WAL; a power cut loses at most the last commits
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes fails at once (SQLITE_BUSY) when another
        # writer got in between; IMMEDIATE takes the write lock up front and waits busy_timeout for it.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# SQLSTATEs that mean "not now" on PostgreSQL: connection exceptions (08), insufficient resources
# (53, e.g. too many connections), operator intervention (57P: shutdown, starting up), lock not
# available (55P03, our lock_timeout), query cancelled (57014), serialization failure, deadlock.
TRANSIENT_SQLSTATES = ("08", "53", "57P", "55P03", "57014", "40001", "40P01")
# SQLite says the same in words.
TRANSIENT_SQLITE = ("database is locked", "database is busy", "unable to open database", "disk i/o error")


def is_unavailable(error: BaseException) -> bool:
    """Whether a database error means "cannot be used right now" (down, unreachable, locked)."""
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate:
        return str(sqlstate).startswith(TRANSIENT_SQLSTATES)
    if isinstance(error, InterfaceError):  # e.g. "connection is closed"
        return True
    return isinstance(error, OperationalError) and any(m in str(error.orig).lower() for m in TRANSIENT_SQLITE)


class Database:
    """The engine and the one `async_sessionmaker` of this process."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block ends, rolls back on error.

        A database that is down or locked raises `DatabaseUnavailable` (show "try again").
        """
        async with self.sessionmaker() as session:
            # Connect first: asyncpg reports an unreachable server as a plain OSError/TimeoutError,
            # which must not be confused with the same errors raised by the caller's own code below.
            # A pool with every connection busy for too long (PoolTimeout) is "try again" as well.
            try:
                await session.connection()
            except (DBAPIError, OSError, TimeoutError, PoolTimeout) as error:
                raise self._unavailable(error) from error
            try:
                yield session
                await session.commit()
            except DBAPIError as error:
                await _rollback_quietly(session)
                if is_unavailable(error):
                    raise self._unavailable(error) from error
                raise
            except BaseException:
                await _rollback_quietly(session)
                raise

    @staticmethod
    def _unavailable(error: BaseException) -> DatabaseUnavailable:
        log.warning("database unavailable: %s: %s", type(error).__name__, error)
        return DatabaseUnavailable(f"the database is unavailable right now ({type(error).__name__})")

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


async def _rollback_quietly(session: AsyncSession) -> None:
    """Roll back, ignoring a second failure (the connection may be gone: the first error is the story)."""
    try:
        await session.rollback()
    except Exception:  # noqa: BLE001
        log.debug("rollback after an error failed too", exc_info=True)
