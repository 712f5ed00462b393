"""The retention schedule: every few hours, delete the texts people typed that are older than
`MIRAGE_RETENTION_DAYS` (bot/store/retention.py says which). Started by the client at start-up; the
first pass runs at once, so a bot that restarts often still prunes."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from ..store import Database, DatabaseUnavailable, retention

log = logging.getLogger(__name__)

EVERY_S = 6 * 3600.0


async def prune_once(db: Database, keep_days: int, *, now: datetime | None = None) -> dict[str, int] | None:
    """One pass; the counts of what went, or None when the database is unavailable (tried again next time)."""
    try:
        async with db.session() as session:
            counts = await retention.expire_old_texts(session, keep_days=keep_days, now=now)
    except DatabaseUnavailable:
        log.warning("retention: the database is unavailable; trying again in %g s", EVERY_S)
        return None
    if any(counts.values()):
        log.info("retention: removed texts older than %d days: %s", keep_days, counts)
    return counts


async def keep_pruning(db: Database, keep_days: int, *, every_s: float = EVERY_S) -> None:
    """Prune now and then every `every_s` seconds, until cancelled; a failing pass is logged, never fatal."""
    while True:
        try:
            await prune_once(db, keep_days)
        except Exception:  # the schedule outlives one bad pass: the operator sees the traceback
            log.exception("retention: a pass failed; trying again in %g s", every_s)
        await asyncio.sleep(every_s)


def start_retention(db: Database, keep_days: int, *, every_s: float = EVERY_S) -> asyncio.Task[None] | None:
    """The running schedule (cancel it at close), or None when `keep_days` is 0 (keep until forget-me)."""
    if keep_days <= 0:
        log.info("retention: off (MIRAGE_RETENTION_DAYS=0); typed texts stay until /mirage forget-me")
        return None
    return asyncio.create_task(keep_pruning(db, keep_days, every_s=every_s), name="retention")
