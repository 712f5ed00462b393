"""Batched answer writes, on SQLite and PostgreSQL: a hundred clicks at once each get their own result,
one row per player holds the last choice, and a reveal racing the clicks never loses or double-counts."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from bot.flows.quiz.writer import AnswerWriter
from bot.store import Database, QuestionClosed, answers, quizzes, settle
from bot.store.models import utcnow

CHOICES = [{"text": t, "full_text": t} for t in ("A", "B", "C", "D")]
PLAYERS = [20_000 + n for n in range(100)]


async def _question(db: Database, thread_id: int = 1) -> int:
    async with db.session() as s:
        quiz = await quizzes.start_quiz(
            s, thread_id=thread_id, guild_id=5, starter_id=PLAYERS[0], kind="caption", modality="ct",
            question_count=1,
        )  # fmt: skip
        question = await quizzes.add_question(
            s, quiz.id, position=0, atlas_id="ROCO_1", modality="ct", choices=CHOICES, answer_index=1,
            deadline=utcnow() + timedelta(seconds=45),
        )  # fmt: skip
        return question.id


async def _rows(db: Database, question_id: int) -> dict[int, int | None]:
    async with db.session() as s:
        return {a.user_id: a.choice for a in await answers.question_answers(s, question_id)}


async def test_a_hundred_clicks_at_once_are_written_in_few_transactions(db: Database) -> None:
    qid = await _question(db)
    writer = AnswerWriter(db)
    try:
        first = await asyncio.gather(*(writer.record(qid, u, u % 4) for u in PLAYERS))
        assert all(r.previous is None for r in first)
        assert [r.choice for r in first] == [u % 4 for u in PLAYERS]
        changed = await asyncio.gather(*(writer.record(qid, u, (u + 1) % 4) for u in PLAYERS[:50]))
        assert [(r.previous, r.choice) for r in changed] == [(u % 4, (u + 1) % 4) for u in PLAYERS[:50]]
    finally:
        await writer.close()
    expected = {u: ((u + 1) % 4 if i < 50 else u % 4) for i, u in enumerate(PLAYERS)}
    assert await _rows(db, qid) == expected
    assert writer.writes == 150
    assert writer.batches < 20, f"{writer.batches} transactions for 150 clicks: the clicks were not batched"


async def test_a_closed_question_refuses_its_clicks_without_sinking_the_batch(db: Database) -> None:
    closed, open_ = await _question(db, thread_id=1), await _question(db, thread_id=2)
    async with db.session() as s:
        await quizzes.reveal_question(s, closed)
    writer = AnswerWriter(db)
    try:
        results = await asyncio.gather(
            *(writer.record(closed if u % 2 else open_, u, 0) for u in PLAYERS[:20]), return_exceptions=True
        )
    finally:
        await writer.close()
    for u, result in zip(PLAYERS[:20], results, strict=True):
        assert isinstance(result, QuestionClosed) if u % 2 else isinstance(result, answers.Recorded)
    assert set(await _rows(db, open_)) == {u for u in PLAYERS[:20] if u % 2 == 0}
    assert await _rows(db, closed) == {}


async def test_a_reveal_racing_the_clicks_scores_exactly_the_acknowledged_ones(db: Database) -> None:
    qid = await _question(db)
    writer = AnswerWriter(db)
    rng = random.Random(3)
    # Timing alone (sleeps) let a loaded machine put every click on one side of the reveal; these two
    # events make sure some land before it and some after, while the rest still race it.
    first_acknowledged, revealed = asyncio.Event(), asyncio.Event()
    late = set(PLAYERS[-3:])

    async def click(user: int) -> bool:
        if user in late:
            await revealed.wait()
        else:
            await asyncio.sleep(rng.uniform(0, 0.3))
        try:
            await writer.record(qid, user, rng.randrange(4))
        except QuestionClosed:
            return False
        first_acknowledged.set()
        return True

    async def reveal() -> settle.Settlement | None:
        await first_acknowledged.wait()
        await asyncio.sleep(0.05)
        try:
            async with db.session() as s:
                return await settle.settle_question(s, qid)
        finally:
            revealed.set()

    try:
        *acked, settlement = await asyncio.gather(*(click(u) for u in PLAYERS), reveal())
    finally:
        await writer.close()
    assert settlement is not None
    acknowledged = {u for u, ok in zip(PLAYERS, acked, strict=True) if ok}
    scored = [r.user_id for r in settlement.results]
    assert len(scored) == len(set(scored)), "nobody is scored twice"
    assert set(scored) == acknowledged, "every acknowledged click is scored, and no refused one"
    assert 0 < len(acknowledged) < len(PLAYERS), "the race really happened (some before, some after)"


async def test_a_batch_answers_each_click_as_one_after_the_other_would(db: Database) -> None:
    qid = await _question(db)
    hinted, twice, bad = PLAYERS[:3]
    async with db.session() as s:
        await answers.record_hint(s, qid, hinted, 1)
    writer = AnswerWriter(db)
    try:
        results = await asyncio.gather(
            writer.record(qid, hinted, 2),
            writer.record(qid, twice, 1),
            writer.record(qid, twice, 3),
            writer.record(qid, bad, 7),
            return_exceptions=True,
        )
    finally:
        await writer.close()
    assert results[:3] == [
        answers.Recorded(choice=2, previous=None),
        answers.Recorded(choice=1, previous=None),
        answers.Recorded(choice=3, previous=1),
    ]
    assert isinstance(results[3], ValueError) and "0–3" in str(results[3])
    async with db.session() as s:
        rows = {a.user_id: (a.choice, a.hint_level) for a in await answers.question_answers(s, qid)}
    assert rows == {hinted: (2, 1), twice: (3, 0)}, "the hint taken before is kept; the last click wins"


async def test_clicks_outlast_a_lock_held_ten_times_the_lock_timeout(database_url: str) -> None:
    """Nothing forgotten under a burst: a hundred clicks made while another writer holds the lock for
    10 lock timeouts all wait and are written once it lets go, none refused with "try again"."""
    from sqlalchemy import text

    from bot.store.database import make_engine
    from bot.store.models import PlayerAnswer
    from bot.store.schema import upgrade_to_head

    engine = make_engine(database_url, lock_timeout_s=0.2)
    await upgrade_to_head(engine)
    db = Database(engine)
    qid = await _question(db)
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold_the_lock() -> None:
        async with db.session() as s:
            await answers.record_hint(s, qid, PLAYERS[0], 1)  # a write: SQLite's one writer lock
            if s.bind.dialect.name == "postgresql":  # PostgreSQL locks rows: lock the table the clicks write
                await s.execute(text(f"LOCK TABLE {PlayerAnswer.__tablename__} IN EXCLUSIVE MODE"))
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold_the_lock())
    await holding.wait()
    writer = AnswerWriter(db)
    try:
        clicks = asyncio.gather(*(writer.record(qid, u, u % 4) for u in PLAYERS), return_exceptions=True)
        await asyncio.sleep(2.0)
        assert not clicks.done() and db.write_retries >= 2, "the clicks wait for the lock, not give up"
        release.set()
        await holder
        results = await asyncio.wait_for(clicks, 60)
    finally:
        await writer.close()
        await db.close()
    assert [r.choice for r in results] == [u % 4 for u in PLAYERS]  # an exception has no .choice
    db = Database(make_engine(database_url))
    try:
        assert await _rows(db, qid) == {u: u % 4 for u in PLAYERS}
    finally:
        await db.close()
