"""One bot per database: a single-instance lock taken before the bot connects to Discord.

Two bot processes with one token would both receive every interaction and answer it twice (a network
partition in a cluster, a second `mirage up`, a manual `python -m bot`). The bot's database is what they
share, so the lock lives there:

- PostgreSQL: a *session* advisory lock (`pg_try_advisory_lock`) on a connection held for the bot's
  whole life. The server releases it when that session ends, so a bot that dies (even SIGKILL, or its
  node vanishing, once TCP gives up) frees it without anyone's help. A bot whose lock connection is
  lost stops itself (`on_lost`), since another one may hold the lock by then.
- SQLite: an exclusive `flock` on `<database>.lock` beside the database file; the kernel releases it
  when the process ends, however it ends.

A second bot waits, says so in its log (and again every minute), and takes over within `poll_s`
seconds (plus its start) once the first one is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

log = logging.getLogger(__name__)

# the advisory lock's key: one 64-bit number for "the MIRAGE bot" (the same in every version)
LOCK_KEY = int.from_bytes(hashlib.sha256(b"mirage-bot single instance").digest()[:8], "big", signed=True)
REPEAT_WAITING_S = 60.0  # how often a waiting bot says again that it is waiting


class InstanceLock(Protocol):
    """What the bot needs of a lock: wait for it, keep it, give it back."""

    where: str

    async def try_acquire(self) -> bool:
        """Take the lock if it is free; False if another bot holds it."""
        ...

    async def still_held(self) -> bool:
        """False once the lock may have been lost (its connection is gone)."""
        ...

    async def release(self) -> None:
        """Give the lock back (idempotent)."""
        ...


class FileLock:
    """An exclusive flock on a file beside the SQLite database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = f"lock file {path}"
        self._fd: int | None = None

    async def try_acquire(self) -> bool:
        """Take the flock without blocking; the holder's pid and host go into the file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        """Who holds the lock, as its holder wrote it ("pid 1234 on host"), or "another bot"."""
        try:
            return self.path.read_text().strip() or "another bot"
        except OSError:
            return "another bot"

    async def still_held(self) -> bool:
        """A flock cannot be taken away from a living process."""
        return self._fd is not None

    async def release(self) -> None:
        """Unlock and close (the file stays: removing it would race with a waiting bot)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class PostgresLock:
    """A session advisory lock on one connection of its own, held while the bot runs."""

    def __init__(self, url: str | URL) -> None:
        self.url = make_url(url)
        self.where = f"PostgreSQL advisory lock {LOCK_KEY} on {self.url.host or 'localhost'}/{self.url.database}"
        self._engine: Any = None
        self._conn: Any = None

    async def _connect(self) -> Any:
        from bot.store.database import make_engine

        if self._engine is None:
            self._engine = make_engine(self.url)
        if self._conn is None:
            self._conn = await self._engine.connect()
        return self._conn

    async def try_acquire(self) -> bool:
        """pg_try_advisory_lock on the lock's own connection (kept open while held)."""
        conn = await self._connect()
        got = bool((await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY})).scalar())
        await conn.commit()  # end the implicit transaction; the session (and its lock) stays
        return got

    def holder(self) -> str:
        """The holder is another database session; PostgreSQL does not say whose bot it is."""
        return "another bot's database session"

    async def still_held(self) -> bool:
        """The lock's connection still answers (if it does not, the server ended the session and the lock)."""
        if self._conn is None:
            return False
        try:
            await asyncio.wait_for(self._conn.execute(text("SELECT 1")), timeout=10)
            await self._conn.commit()
        except Exception:
            return False
        return True

    async def release(self) -> None:
        """Unlock, close the connection and its engine."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                await conn.commit()
            with contextlib.suppress(Exception):
                await conn.close()
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()


def instance_lock(database_url: str) -> FileLock | PostgresLock:
    """The lock for the bot's database at `database_url` (SQLAlchemy URL, as bot.store opens it)."""
    url = make_url(database_url)
    if url.drivername.startswith("postgresql"):
        return PostgresLock(url)
    database = url.database or ""
    if not database or database == ":memory:":
        return FileLock(Path("data") / "bot.lock")
    return FileLock(Path(database).with_name(Path(database).name + ".lock"))


async def wait_for_lock(
    lock: FileLock | PostgresLock, *, poll_s: float = 1.0, stop: asyncio.Event | None = None,
    on_waiting: Callable[[bool], None] | None = None,
) -> bool:
    """Take `lock`, waiting while another bot holds it; False if `stop` was set first.

    Says once that it waits (and again every REPEAT_WAITING_S), and that it took over.
    `on_waiting(True/False)` tells the liveness check (a waiting bot is alive, not stuck).
    """
    stop = stop or asyncio.Event()
    waited_since: float | None = None
    said = 0.0
    while not stop.is_set():
        if await lock.try_acquire():
            if waited_since is not None:
                log.warning("took the single-instance lock (%s) after waiting %.1f s: this bot now answers",
                            lock.where, time.monotonic() - waited_since)
            else:
                log.info("holding the single-instance lock (%s)", lock.where)
            if on_waiting:
                on_waiting(False)
            return True
        now = time.monotonic()
        if waited_since is None:
            waited_since = now
            if on_waiting:
                on_waiting(True)
        if now - said >= REPEAT_WAITING_S:
            said = now
            log.warning("another bot is running (%s holds %s): waiting; this one takes over when it stops",
                        lock.holder(), lock.where)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_s)
    return False


async def keep_lock(lock: FileLock | PostgresLock, on_lost: Callable[[], None], *, every_s: float = 15.0) -> None:
    """Until cancelled: check the lock is still held every `every_s` seconds; call `on_lost` once if not."""
    while True:
        await asyncio.sleep(every_s)
        if not await lock.still_held():
            log.error("lost the single-instance lock (%s): its database connection is gone and another bot may "
                      "hold it now; stopping this one", lock.where)
            on_lost()
            return
