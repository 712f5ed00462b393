"""Fixtures: the engine stand-in on a loopback port, bot services pointed at it, and the databases.

Every store and quiz test that takes `db` (or `database_url`) runs on SQLite and on a real PostgreSQL.
The PostgreSQL server is started once per test session from the machine's binaries (tests/postgres.py),
here for all of tests/bot (a fixture defined in two conftests would start two servers); each test gets a
fresh database on it. Missing binaries fail the tests (they are never skipped).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from discord import app_commands

from bot.config import BotSettings
from bot.engine_client import make_http_client
from bot.errors import report_unexpected
from bot.services import Services
from bot.store import Database, open_url
from bot.ui.commands import MirageCommands
from tests.postgres import PostgresNotFound, PostgresServer

from .engine_standin import EngineStandIn
from .fakes import FakeInteraction

ENGINE_TOKEN = "test-engine-token"


@pytest.fixture
async def engine() -> AsyncIterator[EngineStandIn]:
    standin = EngineStandIn(token=ENGINE_TOKEN)
    await standin.start()
    yield standin
    await standin.stop()


def bot_settings(engine_url: str, **overrides: Any) -> BotSettings:
    """Settings for tests: fast retries and edits, no cooldown, no channel/role limits."""
    values: dict[str, Any] = {
        "discord_token": "test.discord.token",
        "engine_url": engine_url,
        "engine_token": ENGINE_TOKEN,
        "user_cooldown_s": 0,
        "engine_retries": 2,
        "engine_retry_base_s": 0.01,
        "engine_retry_max_s": 3,
        "engine_timeout_s": 5,
        "progress_interval_s": 0.05,
        "allowed_channel_ids": [],
        "allowed_role_ids": [],
    }
    values.update(overrides)
    return BotSettings(**values)


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


@pytest.fixture
async def bot_db(tmp_path: Path) -> AsyncIterator[Database]:
    """The bot's real database (SQLite in the test's folder), upgraded to the newest schema."""
    database = await open_url(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}")
    yield database
    await database.close()


@pytest.fixture
async def make_services(engine: EngineStandIn, bot_db: Database) -> AsyncIterator[Callable[..., Services]]:
    clients = []

    def make(**overrides: Any) -> Services:
        db = overrides.pop("db", bot_db)
        poster = overrides.pop("poster", None)  # what quizzes post through (the Discord client)
        settings = bot_settings(overrides.pop("engine_url", engine.url), **overrides)
        http = make_http_client(settings)
        clients.append(http)
        return Services.build(settings, http, db, poster)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def services(make_services: Callable[..., Services]) -> Services:
    return make_services()


async def invoke(services: Services, name: str, interaction: FakeInteraction, **options: Any) -> None:
    """Run a /mirage subcommand's handler as discord.py would after parsing the options."""
    group = MirageCommands()
    command = group.get_command(name)
    assert command is not None, name
    interaction.command = command  # as discord.py sets it before the checks
    try:  # as discord.py does: the group's check first, its failure to the tree's error edge
        await group.interaction_check(interaction)  # type: ignore[arg-type]
    except app_commands.CheckFailure as refused:
        await report_unexpected(interaction, refused)  # type: ignore[arg-type]
        return
    await command.callback(group, interaction, **options)  # type: ignore[arg-type]
