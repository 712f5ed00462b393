"""Small SQL helpers shared by the query modules (dialect-specific INSERT … ON CONFLICT)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert(session: AsyncSession, model: Any) -> Any:
    """An INSERT that knows `on_conflict_do_update/nothing` on the session's database (both have them)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def rowcount(result: Any) -> int:
    """Rows touched by an UPDATE/DELETE result (0 when the driver cannot tell)."""
    return max(int(getattr(result, "rowcount", 0) or 0), 0)
