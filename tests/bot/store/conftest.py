"""One database fixture, two databases: every store test runs on SQLite and on a real PostgreSQL.

The PostgreSQL server is started once per test session from the machine's binaries (tests/postgres.py);
each test gets a fresh database on it. Missing binaries fail the tests (they are never skipped).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.store import Database, open_url
from tests.postgres import PostgresNotFound, PostgresServer

# A Wednesday, noon UTC: weekly boundaries and "today" are predictable.
NOW = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole test session."""
    try:
        server = PostgresServer().start()
    except PostgresNotFound as error:
        pytest.fail(str(error), pytrace=False)
    yield server
    server.stop()


def _fresh_url(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield server.create_database(name)
    server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database, once SQLite and once PostgreSQL."""
    yield from _fresh_url(request, tmp_path, request.param)


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty PostgreSQL database (for the tests that only make sense there)."""
    yield from _fresh_url(request, tmp_path, "postgresql")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A database upgraded to the newest schema, on SQLite and on PostgreSQL."""
    database = await open_url(database_url)
    yield database
    await database.close()
