"""A real PostgreSQL server for tests and benchmarks, started from the machine's PostgreSQL binaries.

The server lives in a temporary directory, listens on a free loopback port and is thrown away at
the end. `initdb` and `postgres` refuse to run as root, so when we are root (CI) they run as the
`postgres` user through `runuser`, in a directory that user owns. Durability is turned off
(fsync, synchronous_commit): a test server never has to survive a power cut.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.e2e.processes import free_port

DEFAULT_BINDIR = Path("/usr/lib/postgresql/15/bin")
SERVER_USER = "postgres"


class PostgresNotFound(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    """Where `initdb` and `pg_ctl` are: $MIRAGE_PG_BINDIR, `pg_config --bindir`, or Debian's 15."""
    candidates: list[Path] = []
    if os.environ.get("MIRAGE_PG_BINDIR"):
        candidates.append(Path(os.environ["MIRAGE_PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))
    candidates.append(DEFAULT_BINDIR)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise PostgresNotFound(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in "
        + ", ".join(str(c) for c in candidates)
        + ". Install the server (Debian: apt-get install postgresql-15) or set MIRAGE_PG_BINDIR."
    )


class PostgresServer:
    """One throw-away PostgreSQL server: `start()`, `url(db)`, `create_database(name)`, `stop()`."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.as_root = os.geteuid() == 0
        # As root, the server user must reach its directory: keep it out of root's private TMPDIR.
        parent = os.environ.get("MIRAGE_PG_TMPDIR", "/tmp") if self.as_root else None
        self.root = Path(tempfile.mkdtemp(prefix="mirage-pg-", dir=parent))
        self.data = self.root / "data"
        self.port = 0
        if self.as_root:
            # The server's files must belong to the user it runs as.
            try:
                entry = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise PostgresNotFound(
                    f"running as root but there is no {SERVER_USER!r} user to run the server as "
                    "(Debian's postgresql-15 package creates it)"
                ) from None
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [*(["runuser", "-u", SERVER_USER, "--"] if self.as_root else []), *args]
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=self.root)
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr}{tail}")
        return result

    def start(self) -> PostgresServer:
        """initdb, then start the server on a free loopback port; returns when it accepts connections."""
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        for attempt in range(3):  # the free port may be taken between finding it and binding it
            self.port = free_port()
            try:
                self.resume()
                return self
            except RuntimeError:
                if attempt == 2:
                    raise
        return self

    def resume(self) -> None:
        """Start the (initialised) server on `self.port`; returns when it accepts connections."""
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.root}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip

    def pause(self) -> None:
        """Shut the server down cleanly, keeping its data (to test a database that goes away)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run one SQL command as the superuser; returns psql's output."""
        return self._run(
            str(self.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-d", database, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql,
        ).stdout  # fmt: skip

    def create_database(self, name: str) -> str:
        """Create an empty database; returns its asyncpg URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing its connections first."""
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def url(self, database: str) -> str:
        """The SQLAlchemy asyncpg URL of `database` on this server."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server at once and delete its files."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
