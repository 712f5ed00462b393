"""The store's database fixture (SQLite and a real PostgreSQL), shared with the quiz tests."""

from tests.bot.store.conftest import database_url, db, postgres_server  # noqa: F401
