"""Player answers: one row per player however they click, changeable until the reveal, closed after;
20 players at once; a reveal racing the clicks never loses an acknowledged answer."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.store import Database, QuestionClosed, answers, quizzes, settle
from bot.store.models import PlayerAnswer, ScoreEvent

from .conftest import NOW

PLAYERS = [10_000 + n for n in range(20)]
CHOICES = [{"text": t} for t in ("A", "B", "C", "D")]
RIGHT = 2


async def _question(db: Database, guild_id: int | None = 99) -> int:
    async with db.session() as s:
        quiz = await quizzes.start_quiz(
            s,
            thread_id=1,
            guild_id=guild_id,
            starter_id=PLAYERS[0],
            kind="caption",
            modality="mri",
            question_count=1,
        )
        question = await quizzes.add_question(
            s, quiz.id, position=0, atlas_id="ROCO_7", modality="mri", choices=CHOICES, answer_index=RIGHT,
            deadline=NOW + timedelta(seconds=45),
        )  # fmt: skip
        return question.id


async def _click(db: Database, question_id: int, user_id: int, choice: int) -> answers.Recorded:
    async with db.session() as s:  # one interaction = one unit of work
        return await answers.record_answer(s, question_id, user_id, choice)


async def _rows(db: Database, question_id: int) -> dict[int, int | None]:
    async with db.session() as s:
        return {a.user_id: a.choice for a in await answers.question_answers(s, question_id)}


async def test_a_player_can_change_their_answer_until_the_reveal_and_not_after(db: Database):
    qid = await _question(db)
    assert await _click(db, qid, PLAYERS[0], 1) == answers.Recorded(choice=1, previous=None)
    assert await _click(db, qid, PLAYERS[0], 3) == answers.Recorded(choice=3, previous=1)
    assert await _rows(db, qid) == {PLAYERS[0]: 3}
    async with db.session() as s:
        assert await answers.answer_count(s, qid) == 1
        await quizzes.reveal_question(s, qid)
    with pytest.raises(QuestionClosed, match="closed"):
        await _click(db, qid, PLAYERS[0], 2)
    with pytest.raises(QuestionClosed):
        await _click(db, qid, PLAYERS[1], 2)
    assert await _rows(db, qid) == {PLAYERS[0]: 3}


async def test_a_choice_outside_the_buttons_is_refused(db: Database):
    qid = await _question(db)
    with pytest.raises(ValueError, match="choice must be 0–3"):
        await _click(db, qid, PLAYERS[0], 4)


async def test_hints_climb_and_stay_on_the_players_row(db: Database):
    qid = await _question(db)
    async with db.session() as s:
        assert await answers.record_hint(s, qid, PLAYERS[0], 1) == 1
        assert await answers.record_hint(s, qid, PLAYERS[0], 2) == 2
        assert await answers.record_hint(s, qid, PLAYERS[0], 1) == 2  # no points back
        assert await answers.answer_count(s, qid) == 0  # a hint is not an answer
    await _click(db, qid, PLAYERS[0], RIGHT)
    async with db.session() as s:
        (row,) = await answers.question_answers(s, qid)
        assert (row.choice, row.hint_level) == (RIGHT, 2)


async def test_twenty_players_clicking_at_once_count_once_each_and_changes_overwrite(db: Database):
    qid = await _question(db)
    # 1. everyone clicks at the same moment, some twice at once (a double click)
    first = {p: n % 4 for n, p in enumerate(PLAYERS)}
    clicks = [_click(db, qid, p, c) for p, c in first.items()] + [
        _click(db, qid, p, first[p]) for p in PLAYERS[:5]
    ]
    await asyncio.gather(*clicks)
    assert await _rows(db, qid) == first
    # 2. everyone changes their mind, again all at once
    final = {p: (c + 1) % 4 for p, c in first.items()}
    await asyncio.gather(*(_click(db, qid, p, c) for p, c in final.items()))
    assert await _rows(db, qid) == final
    # 3. reveal: exactly one score per player, matching their last click
    async with db.session() as s:
        settled = await settle.settle_question(s, qid, now=NOW)
    assert settled is not None
    assert {r.user_id: r.choice for r in settled.results} == final
    right = {p for p, c in final.items() if c == RIGHT}
    assert {r.user_id for r in settled.results if r.correct} == right
    assert {st.user_id: st.points for st in settled.scoreboard} == {
        p: (10 if p in right else 0) for p in PLAYERS
    }
    async with db.session() as s:
        rows = await s.scalar(
            select(func.count()).select_from(PlayerAnswer).where(PlayerAnswer.question_id == qid)
        )
        scored = await s.scalar(
            select(func.count()).select_from(ScoreEvent).where(ScoreEvent.question_id == qid)
        )
        assert (rows, scored) == (20, 20)
        assert await settle.settle_question(s, qid) is None  # a second reveal counts nothing again


async def test_a_reveal_racing_the_clicks_keeps_every_acknowledged_answer(db: Database):
    qid = await _question(db)

    async def click(player: int) -> bool:
        try:
            await _click(db, qid, player, RIGHT)
            return True  # the player was told "locked in"
        except QuestionClosed:
            return False  # the player was told "this question is closed"

    async def reveal() -> settle.Settlement | None:
        await asyncio.sleep(0.01)
        async with db.session() as s:
            return await settle.settle_question(s, qid)

    *acks, settled = await asyncio.gather(*(click(p) for p in PLAYERS), reveal())
    acknowledged = {p for p, ok in zip(PLAYERS, acks, strict=True) if ok}
    assert settled is not None
    assert {r.user_id for r in settled.results} == acknowledged  # none lost, none extra
    assert await _rows(db, qid) == dict.fromkeys(acknowledged, RIGHT)
