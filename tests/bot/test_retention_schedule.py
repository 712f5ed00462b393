"""The retention schedule the bot starts: a pass at once and then every interval, off with 0 days, and a
database that is down (or a pass that fails) only delays the next pass."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from bot.flows.retention import keep_pruning, prune_once, start_retention
from bot.store import Database, DatabaseUnavailable, turns
from bot.store import threads as thread_rows
from bot.store.models import Turn, utcnow


async def _old_turn(db: Database, thread_id: int) -> None:
    long_ago = utcnow() - timedelta(days=400)
    async with db.session() as s:
        await thread_rows.remember_thread(
            s, thread_id=thread_id, channel_id=1, guild_id=None, command="ask", query="q", hit_ids=[], now=long_ago
        )
        await turns.add_turn(
            s, thread_id=thread_id, user_id=5, question="old", answer="!", cited_ids=[], grounded=False, now=long_ago
        )


async def _turns(db: Database) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(Turn)) or 0)


async def test_zero_days_starts_no_schedule(bot_db: Database):
    assert start_retention(bot_db, 0) is None


async def test_the_schedule_prunes_at_once_and_again_every_interval(bot_db: Database):
    await _old_turn(bot_db, 1)
    task = start_retention(bot_db, 180, every_s=0.05)
    assert task is not None
    try:
        for _ in range(100):
            if await _turns(bot_db) == 0:
                break
            await asyncio.sleep(0.02)
        assert await _turns(bot_db) == 0, "the first pass runs at start"
        await _old_turn(bot_db, 2)  # typed long ago, e.g. restored from a backup: the next pass takes it
        for _ in range(100):
            if await _turns(bot_db) == 0:
                break
            await asyncio.sleep(0.02)
        assert await _turns(bot_db) == 0
    finally:
        task.cancel()
    assert await prune_once(bot_db, 180) == {"turns": 0, "jobs": 0, "thread_queries": 0}


class FlakyDatabase:
    """A database that is down for the first `down` sessions, then fails once with a bug, then works."""

    def __init__(self, real: Database, down: int) -> None:
        self.real, self.down, self.sessions = real, down, 0

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Any]:
        self.sessions += 1
        if self.sessions <= self.down:
            raise DatabaseUnavailable("down for the test")
        if self.sessions == self.down + 1:
            raise RuntimeError("a bug in one pass")
        async with self.real.session() as session:
            yield session


async def test_a_database_that_is_down_or_a_failing_pass_only_delays_the_next_pass(bot_db: Database):
    await _old_turn(bot_db, 1)
    flaky = FlakyDatabase(bot_db, down=2)
    assert await prune_once(flaky, 180) is None  # type: ignore[arg-type]  # down: nothing raised
    task = asyncio.create_task(keep_pruning(flaky, 180, every_s=0.02))  # type: ignore[arg-type]
    try:
        for _ in range(200):
            if await _turns(bot_db) == 0:
                break
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
    assert await _turns(bot_db) == 0 and flaky.sessions >= 4
