"""Schema upgrades at start: Alembic, configured in code (no alembic.ini), migrations in this package.

`open_database(settings)` is what the bot calls in `setup_hook`: it upgrades the schema to the
newest revision this code knows and returns the process's `Database`. A database upgraded by a
newer MIRAGE is never touched: `SchemaTooNew` names both revisions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util.exc import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from .database import Database, default_url, is_unavailable, make_engine
from .errors import DatabaseUnavailable, SchemaTooNew

if TYPE_CHECKING:
    from bot.config import BotSettings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant: bot processes starting together on one PostgreSQL take turns to upgrade.
UPGRADE_LOCK_KEY = 0x4D495241  # "MIRA"


def alembic_config() -> Config:
    """Alembic's configuration, pointing at the migrations shipped in this package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "bot/store/migrations has no revisions"
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None: empty database)."""
    async with engine.connect() as connection:
        return await connection.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def upgrade_to_head(engine: AsyncEngine, target: str = "head") -> str:
    """Upgrade the schema to `target` (default: the newest); return the revision reached.

    Raises `SchemaTooNew` when the database is at a revision this code does not know.
    """
    config = alembic_config()
    async with engine.begin() as connection:
        return await connection.run_sync(_upgrade, config, target)


def _upgrade(connection: Connection, config: Config, target: str) -> str:
    # 1. one upgrader at a time (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises)
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK_KEY})
    # 2. refuse a schema newer than this code, before touching anything
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head() or "none"
    current = MigrationContext.configure(connection).get_current_revision()
    if current is not None:
        try:
            script.get_revision(current)
        except (RevisionError, CommandError) as error:
            raise SchemaTooNew(current, head) from error
    # 3. run the pending migrations on this very connection (env.py picks it up)
    config.attributes["connection"] = connection
    command.upgrade(config, target)
    reached = MigrationContext.configure(connection).get_current_revision() or "none"
    if reached != current:
        log.info("database schema upgraded from %s to %s", current or "empty", reached)
    return reached


def database_url(settings: BotSettings) -> str:
    """MIRAGE_DATABASE_URL, or the SQLite file in MIRAGE_DATA_DIR."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return default_url(settings.data_dir)


async def open_url(url: str) -> Database:
    """Open the database at `url`, upgrade its schema to the newest revision, return it.

    `DatabaseUnavailable` when it cannot be reached; `SchemaTooNew` when a newer MIRAGE upgraded it.
    """
    engine = make_engine(url)
    try:
        await upgrade_to_head(engine)
    except (DBAPIError, OSError, TimeoutError) as error:
        await engine.dispose()
        if isinstance(error, DBAPIError) and not is_unavailable(error):
            raise
        raise DatabaseUnavailable(
            f"cannot open the database at {engine.url.render_as_string(hide_password=True)}: {error}"
        ) from error
    except BaseException:
        await engine.dispose()
        raise
    return Database(engine)


async def open_database(settings: BotSettings) -> Database:
    """The bot's start-up call: open the configured database and bring its schema up to date."""
    return await open_url(database_url(settings))
