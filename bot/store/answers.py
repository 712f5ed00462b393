"""Player answers: one row per (question, player), so a click never counts twice.

A player may change their choice until the reveal (an upsert on the unique pair), and taking a hint
is remembered on the same row (the highest rung reached). Answers to a revealed question raise
`QuestionClosed`. On PostgreSQL the question row is share-locked while answering, so a reveal
waits for answers already being written and answers after it see it closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ._sql import insert
from .errors import QuestionClosed
from .models import PlayerAnswer, Question, utcnow


@dataclass(frozen=True)
class Recorded:
    """What happened to a click: the choice now locked in, and the one it replaced (None: first)."""

    choice: int
    previous: int | None


async def _open_question(session: AsyncSession, question_id: int) -> Question:
    question = await session.scalar(
        select(Question).where(Question.id == question_id).with_for_update(read=True)
    )
    if question is None or question.state != "open":
        raise QuestionClosed(f"question {question_id} is closed")
    return question


async def record_answer(
    session: AsyncSession, question_id: int, user_id: int, choice: int, now: datetime | None = None
) -> Recorded:
    """Lock in (or change) a player's choice on an open question."""
    (result,) = await record_answers(session, [(question_id, user_id, choice)], now)
    if isinstance(result, Exception):
        raise result
    return result


async def record_answers(
    session: AsyncSession, clicks: list[tuple[int, int, int]], now: datetime | None = None
) -> list[Recorded | Exception]:
    """Lock in many (question, player, choice) clicks in order, a few statements per question.

    One result per click, exactly what `record_answer` would give each one after the other: the
    choice and the one it replaced, `QuestionClosed` on a revealed question, `ValueError` for a
    choice out of range. A database failure raises (the whole batch fails).
    """
    results: list[Recorded | Exception | None] = [None] * len(clicks)
    by_question: dict[int, list[int]] = {}
    for index, (question_id, _, _) in enumerate(clicks):
        by_question.setdefault(question_id, []).append(index)
    now = now or utcnow()
    for question_id, indexes in by_question.items():
        # 1. the question must be open (its row share-locked until commit on PostgreSQL)
        try:
            question = await _open_question(session, question_id)
        except QuestionClosed as closed:
            for index in indexes:  # one error each: a raised exception carries its own traceback
                results[index] = QuestionClosed(str(closed))
            continue
        n = len(question.choices)
        valid = []
        for index in indexes:
            choice = clicks[index][2]
            if 0 <= choice < n:
                valid.append(index)
            else:
                results[index] = ValueError(f"choice must be 0–{n - 1}; got {choice}")
        if not valid:
            continue
        # 2. what each player held before this batch, then each click in order
        users = {clicks[i][1] for i in valid}
        held = dict(
            (await session.execute(
                select(PlayerAnswer.user_id, PlayerAnswer.choice).where(
                    PlayerAnswer.question_id == question_id, PlayerAnswer.user_id.in_(users)
                )
            )).all()
        )  # fmt: skip
        last: dict[int, int] = {}
        for index in valid:
            _, user_id, choice = clicks[index]
            results[index] = Recorded(choice=choice, previous=held.get(user_id))
            held[user_id] = last[user_id] = choice
        # 3. one upsert for the batch, each player's last click (a hint taken before is kept); one
        # statement run over many rows, so it is compiled once whatever the batch size
        stmt = insert(session, PlayerAnswer)
        stmt = stmt.on_conflict_do_update(
            index_elements=[PlayerAnswer.question_id, PlayerAnswer.user_id],
            set_={"choice": stmt.excluded.choice, "answered_at": stmt.excluded.answered_at},
        )
        rows = [
            {"question_id": question_id, "user_id": u, "choice": c, "hint_level": 0, "answered_at": now}
            for u, c in last.items()
        ]
        await session.execute(stmt, rows)
    return [r for r in results if r is not None]


async def record_hint(
    session: AsyncSession, question_id: int, user_id: int, level: int, now: datetime | None = None
) -> int:
    """Remember that a player reached hint rung `level` (1 = first); returns the highest rung reached."""
    if level < 1:
        raise ValueError(f"hint level must be ≥ 1; got {level}")
    await _open_question(session, question_id)
    stmt = insert(session, PlayerAnswer).values(
        question_id=question_id, user_id=user_id, choice=None, hint_level=level, answered_at=now or utcnow()
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[PlayerAnswer.question_id, PlayerAnswer.user_id],
            # Hints only climb: asking for rung 1 again after rung 2 does not give points back.
            set_={
                "hint_level": case(
                    (PlayerAnswer.hint_level > stmt.excluded.hint_level, PlayerAnswer.hint_level),
                    else_=stmt.excluded.hint_level,
                )
            },
        )
    )
    reached = await session.scalar(
        select(PlayerAnswer.hint_level).where(
            PlayerAnswer.question_id == question_id, PlayerAnswer.user_id == user_id
        )
    )
    return int(reached or level)


async def question_answers(session: AsyncSession, question_id: int) -> list[PlayerAnswer]:
    """Every player's row on a question (including hint-only rows, whose choice is None), by user id."""
    query = select(PlayerAnswer).where(PlayerAnswer.question_id == question_id).order_by(PlayerAnswer.user_id)
    return list((await session.scalars(query)).all())


async def answer_count(session: AsyncSession, question_id: int) -> int:
    """How many players have locked in a choice on a question."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(PlayerAnswer)
            .where(PlayerAnswer.question_id == question_id, PlayerAnswer.choice.is_not(None))
        )
        or 0
    )
