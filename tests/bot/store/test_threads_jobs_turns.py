"""Answer threads, jobs and follow-up turns survive the process: written in one unit of work, read in
another (as after a restart), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from bot.store import Database, jobs, threads, turns

from .conftest import NOW

THREAD = 1_300_000_000_000_000_001  # Discord ids are 64-bit
GUILD = 1_200_000_000_000_000_002
CHANNEL = 1_100_000_000_000_000_003
USER = 900_000_000_000_000_004


async def test_a_thread_remembers_its_command_query_and_hits_in_order(db: Database):
    async with db.session() as s:
        await threads.remember_thread(
            s, thread_id=THREAD, channel_id=CHANNEL, guild_id=GUILD, command="search",
            query="T2 bright lesion", hit_ids=["ROCO_3", "ROCO_1", "ROCO_2"], now=NOW,
        )  # fmt: skip
    async with db.session() as s:
        thread = await threads.get_thread(s, THREAD)
        assert thread is not None
        assert (thread.command, thread.query, thread.guild_id, thread.channel_id) == (
            "search", "T2 bright lesion", GUILD, CHANNEL,
        )  # fmt: skip
        assert thread.hit_ids == ["ROCO_3", "ROCO_1", "ROCO_2"]
        assert thread.created_at == NOW
        assert await threads.get_thread(s, THREAD + 1) is None


async def test_more_results_extend_the_hits_without_repeats_and_a_new_command_replaces_them(db: Database):
    async with db.session() as s:
        await threads.remember_thread(
            s, thread_id=THREAD, channel_id=CHANNEL, guild_id=None, command="search", query="q",
            hit_ids=["a", "b"],
        )  # fmt: skip
    async with db.session() as s:
        await threads.extend_hits(s, THREAD, ["b", "c", "c", "d"])
        assert await threads.extend_hits(s, THREAD + 1, ["x"]) is None
    async with db.session() as s:
        assert (await threads.get_thread(s, THREAD)).hit_ids == ["a", "b", "c", "d"]
        await threads.remember_thread(
            s,
            thread_id=THREAD,
            channel_id=CHANNEL,
            guild_id=None,
            command="compare",
            query="q2",
            hit_ids=["z"],
        )
    async with db.session() as s:
        thread = await threads.get_thread(s, THREAD)
        assert (thread.command, thread.query, thread.hit_ids, thread.guild_id) == (
            "compare",
            "q2",
            ["z"],
            None,
        )


async def test_a_job_keeps_its_request_and_where_it_answers_for_buttons_after_a_restart(db: Database):
    request = {"query": "chest x-ray", "k": 5, "modality": None, "shown": ["a", "b"]}
    async with db.session() as s:
        await jobs.save_job(s, job_id="a1b2c3d4e5f6", user_id=USER, kind="search", request=request, now=NOW)
    async with db.session() as s:
        job = await jobs.update_job(
            s,
            "a1b2c3d4e5f6",
            status="running",
            message_id=555,
            thread_id=THREAD,
            now=NOW + timedelta(seconds=2),
        )
        assert job is not None
        assert await jobs.update_job(s, "nope", status="done") is None
    async with db.session() as s:
        job = await jobs.get_job(s, "a1b2c3d4e5f6")
        assert job is not None
        assert (job.user_id, job.kind, job.request, job.status) == (USER, "search", request, "running")
        assert (job.message_id, job.thread_id) == (555, THREAD)
        assert (job.created_at, job.updated_at) == (NOW, NOW + timedelta(seconds=2))


async def test_unfinished_jobs_are_marked_interrupted_at_start(db: Database):
    async with db.session() as s:
        for job_id, status in [("j1", "waiting"), ("j2", "running"), ("j3", "done"), ("j4", "cancelled")]:
            await jobs.save_job(s, job_id=job_id, user_id=USER, kind="generate", request={}, status=status)
        assert {j.id for j in await jobs.jobs_of(s, USER, unfinished_only=True)} == {"j1", "j2"}
    async with db.session() as s:
        cut = await jobs.interrupt_unfinished(s, now=NOW)
        assert sorted(j.id for j in cut) == ["j1", "j2"]
        assert all(j.status == "interrupted" for j in cut)
    async with db.session() as s:
        statuses = {j.id: j.status for j in await jobs.jobs_of(s, USER)}
        assert statuses == {"j1": "interrupted", "j2": "interrupted", "j3": "done", "j4": "cancelled"}
        assert await jobs.interrupt_unfinished(s) == []


async def test_a_job_refuses_an_unknown_status_or_an_overlong_id(db: Database):
    async with db.session() as s:
        with pytest.raises(ValueError, match="job status must be one of"):
            await jobs.save_job(s, job_id="x", user_id=USER, kind="search", request={}, status="lost")
        with pytest.raises(ValueError, match="job_id must be 1–32 characters"):
            await jobs.save_job(s, job_id="x" * 33, user_id=USER, kind="search", request={})


async def test_follow_up_turns_are_kept_in_order_with_their_citations(db: Database):
    async with db.session() as s:
        await threads.remember_thread(
            s,
            thread_id=THREAD,
            channel_id=CHANNEL,
            guild_id=GUILD,
            command="search",
            query="q",
            hit_ids=["a", "b"],
        )
    for n in range(3):
        async with db.session() as s:
            await turns.add_turn(
                s, thread_id=THREAD, user_id=USER + n, question=f"why {n}?", answer=f"because [{n + 1}]",
                cited_ids=["a"] if n else [], grounded=bool(n), now=NOW + timedelta(minutes=n),
            )  # fmt: skip
    async with db.session() as s:
        every = await turns.thread_turns(s, THREAD)
        assert [t.question for t in every] == ["why 0?", "why 1?", "why 2?"]
        assert [(t.cited_ids, t.grounded) for t in every] == [([], False), (["a"], True), (["a"], True)]
        assert [t.question for t in await turns.thread_turns(s, THREAD, last=2)] == ["why 1?", "why 2?"]


async def test_a_turn_in_an_unknown_thread_is_refused_by_the_database(db: Database):
    with pytest.raises(IntegrityError):
        async with db.session() as s:
            await turns.add_turn(
                s, thread_id=42, user_id=USER, question="q", answer="a", cited_ids=[], grounded=False
            )
