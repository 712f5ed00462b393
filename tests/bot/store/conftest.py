"""Store test constants. The database fixtures (`db`, `database_url`, `pg_url`, `postgres_server`) live in
tests/bot/conftest.py, so one PostgreSQL server serves the store and quiz tests of a session."""

from __future__ import annotations

from datetime import UTC, datetime

# A Wednesday, noon UTC: weekly boundaries and "today" are predictable.
NOW = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
