"""One database per process: the engine, its session factory, and the unit of work.

SQLite (the default, a file in the data directory) runs in WAL mode so readers never wait for the
writer; each transaction starts with `BEGIN IMMEDIATE` so two writers queue on the busy timeout
instead of failing half-way. PostgreSQL is used through asyncpg. Either way, a database that is
down, unreachable or locked for too long raises `DatabaseUnavailable`.

Writes that must not be lost under a burst (jobs, answer threads, follow-up turns) go through
`Database.write`: they are queued to one writer task, which runs every queued write in one
transaction (each in its own savepoint, so one bad write fails alone) and retries the whole batch
while the database is locked or down, until each write's deadline (`WRITE_DEADLINE_S`, minutes, not
the 5 s of a lock wait). One writer also means the bot's own writes never fight each other for
SQLite's lock.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from .errors import DatabaseUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

SQLITE_FILE = "bot.sqlite3"
# How long a statement waits for a lock (SQLite's writer lock, PostgreSQL's row locks) before
# giving up with DatabaseUnavailable; and how long a PostgreSQL connect may take.
LOCK_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 5.0
SUPPORTED_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")
# A queued write is retried while the database is unavailable for up to this long, then given up
# (logged by the caller); between tries the writer waits RETRY_BASE_S, doubling up to RETRY_MAX_S.
WRITE_DEADLINE_S = 300.0
WRITE_RETRY_BASE_S = 0.05
WRITE_RETRY_MAX_S = 2.0
WRITE_BATCH_MAX = 200


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


@dataclass
class _Write:
    work: Callable[[AsyncSession], Awaitable[Any]]
    deadline: float
    future: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Database:
    """The engine and the one `async_sessionmaker` of this process."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        self._clock = clock
        self._writes: list[_Write] = []
        self._writer: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self.write_batches = 0  # transactions the writer committed
        self.write_retries = 0  # batches tried again because the database was unavailable
        self.writes_failing = False  # the last batch found the database unavailable

    @property
    def write_backlog(self) -> int:
        """Writes queued and not yet written."""
        return len(self._writes)

    async def write(
        self, work: Callable[[AsyncSession], Awaitable[T]], *, deadline_s: float = WRITE_DEADLINE_S
    ) -> T:
        """Run `work(session)` in the next batch of the one writer; returns its result or raises its own
        error. Raises `DatabaseUnavailable` only when the database stayed unavailable for `deadline_s`.

        The write is queued at once: cancelling the caller does not withdraw it (it is kept, in order).
        """
        item = _Write(work, self._clock() + deadline_s)
        self._writes.append(item)
        if self._writer is None or self._writer.done():
            self._wake = asyncio.Event()
            self._writer = asyncio.create_task(self._write_loop())
        assert self._wake is not None
        self._wake.set()
        return await asyncio.shield(item.future)

    async def flush_writes(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for the queued writes; True when none is left."""
        if self._writer is None or self._writer.done():
            return not self._writes
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(self._writer)
        except TimeoutError:
            return False
        return not self._writes

    async def _write_loop(self) -> None:
        delay = WRITE_RETRY_BASE_S
        while self._writes:
            batch = self._writes[:WRITE_BATCH_MAX]
            try:
                results = await self._run_batch(batch)
            except DatabaseUnavailable as error:
                # 1. unavailable (locked, down): the whole transaction rolled back; give up only the
                # writes past their deadline, and try the rest again after a pause
                now = self._clock()
                for item in batch:
                    if item.deadline <= now:
                        self._writes.remove(item)
                        _settle(item, error)
                self.write_retries += 1
                self.writes_failing = True
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, WRITE_RETRY_MAX_S)
                continue
            except Exception as error:  # noqa: BLE001 - a bug in the batch itself: each caller hears it
                results = [error] * len(batch)
            # 2. committed: hand each caller its result
            delay = WRITE_RETRY_BASE_S
            self.writes_failing = False
            self.write_batches += 1
            del self._writes[: len(batch)]
            for item, result in zip(batch, results, strict=True):
                _settle(item, result)

    async def _run_batch(self, batch: list[_Write]) -> list[Any]:
        results: list[Any] = []
        async with self.session() as session:
            for item in batch:
                try:
                    async with session.begin_nested():
                        results.append(await item.work(session))
                except DBAPIError as error:
                    if is_unavailable(error):
                        raise  # the whole batch: session() turns it into DatabaseUnavailable
                    results.append(error)
                except Exception as error:  # noqa: BLE001 - this write's own failure; the others go on
                    results.append(error)
        return results

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

    async def close(self, *, flush_timeout_s: float = 10.0) -> None:
        """Write what is still queued (for up to `flush_timeout_s`), then close every pooled connection."""
        if not await self.flush_writes(1.0 if self.writes_failing else flush_timeout_s):
            log.warning("%d queued database writes were not written before closing", len(self._writes))
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
        await self.engine.dispose()


def _settle(item: _Write, result: Any) -> None:
    if item.future.done():
        return
    if isinstance(result, BaseException):
        item.future.set_exception(result)
    else:
        item.future.set_result(result)


async def _rollback_quietly(session: AsyncSession) -> None:
    """Roll back, ignoring a second failure (the connection may be gone: the first error is the story)."""
    try:
        await session.rollback()
    except Exception:  # noqa: BLE001
        log.debug("rollback after an error failed too", exc_info=True)
