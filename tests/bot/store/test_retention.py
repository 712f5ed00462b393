"""Retention: turns and finished jobs older than the window are deleted, older answer threads lose their
query text but keep their hits; everything younger, and anything still running, stays. On SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.store import Database, jobs, retention, threads, turns
from bot.store.models import Job, Turn

from .conftest import NOW

OLD, RECENT = NOW - timedelta(days=181), NOW - timedelta(days=179)


async def _some_old_and_some_recent(db: Database) -> None:
    async with db.session() as s:
        for thread_id, when, query in ((1, OLD, "old question"), (2, RECENT, "recent question")):
            await threads.remember_thread(
                s, thread_id=thread_id, channel_id=9, guild_id=3, command="search", query=query,
                hit_ids=[f"ROCO_{thread_id}"], now=when,
            )  # fmt: skip
            await turns.add_turn(
                s, thread_id=thread_id, user_id=7, question=f"follow-up to {query}", answer="!", cited_ids=[],
                grounded=False, now=when,
            )  # fmt: skip
            await jobs.save_job(
                s, job_id=f"done{thread_id}", user_id=7, kind="search", request={"query": query},
                status="done", thread_id=thread_id, now=when,
            )  # fmt: skip
        await jobs.save_job(s, job_id="running", user_id=7, kind="generate", request={"prompt": "p"},
                            status="running", now=OLD)  # fmt: skip


async def test_old_texts_go_recent_ones_stay(db: Database):
    await _some_old_and_some_recent(db)
    async with db.session() as s:
        counts = await retention.expire_old_texts(s, keep_days=180, now=NOW)
    assert counts == {"turns": 1, "jobs": 1, "thread_queries": 1}
    async with db.session() as s:
        assert [t.question for t in (await s.scalars(select(Turn))).all()] == ["follow-up to recent question"]
        assert sorted(j.id for j in (await s.scalars(select(Job))).all()) == ["done2", "running"]
        old, recent = await threads.get_thread(s, 1), await threads.get_thread(s, 2)
        assert old is not None and old.query == "" and old.hit_ids == ["ROCO_1"]  # follow-ups still work
        assert recent is not None and recent.query == "recent question"
    async with db.session() as s:  # a second run finds nothing more to do
        assert await retention.expire_old_texts(s, keep_days=180, now=NOW) == dict.fromkeys(counts, 0)


async def test_a_shorter_window_takes_more(db: Database):
    await _some_old_and_some_recent(db)
    async with db.session() as s:
        counts = await retention.expire_old_texts(s, keep_days=30, now=NOW)
    assert counts == {"turns": 2, "jobs": 2, "thread_queries": 2}


async def test_a_window_under_one_day_is_refused(db: Database):
    async with db.session() as s:
        with pytest.raises(ValueError, match="keep_days must be at least 1"):
            await retention.expire_old_texts(s, keep_days=0, now=NOW)
