"""Clicks to the database in batches: one transaction, and a few statements, for every click that
arrived while the previous batch was being written.

A question can get a hundred clicks in the same second. One transaction each would make them queue
for SQLite's single writer lock (or for pooled PostgreSQL connections) and wait in lock back-offs;
instead one task writes whatever has piled up, per question: check it is open (share-locking its row
on PostgreSQL, as `bot.store.answers.record_answer` does, so a reveal waits for the batch), read the
players' previous choices, and upsert one row per player with their last click. Each click still
gets its own result, exactly as `record_answer` would give it one after the other: the choice and
the one it replaced, `QuestionClosed` on a revealed question, `ValueError` for a choice out of range.
A database failure fails the whole batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.answers import Recorded
from bot.store.database import Database
from bot.store.errors import QuestionClosed
from bot.store.models import PlayerAnswer, Question, utcnow

log = logging.getLogger(__name__)

BATCH_MAX = 200  # clicks in one transaction; more wait for the next one


@dataclass
class _Click:
    question_id: int
    user_id: int
    choice: int
    done: asyncio.Future[Recorded]


class AnswerWriter:
    """Batches `record_answer` calls; `writes` and `batches` count what reached the database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: list[_Click] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.writes = 0
        self.batches = 0

    async def record(self, question_id: int, user_id: int, choice: int) -> Recorded:
        """Lock in a player's choice (as `answers.record_answer`), once its batch is committed."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="quiz-answer-writer")
        done: asyncio.Future[Recorded] = asyncio.get_running_loop().create_future()
        self._pending.append(_Click(question_id, user_id, choice, done))
        self._wake.set()
        return await done

    async def close(self) -> None:
        """Stop the writing task (clicks still pending are failed)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for click in self._pending:
            if not click.done.done():
                click.done.set_exception(RuntimeError("the bot is shutting down"))
        self._pending.clear()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:BATCH_MAX], self._pending[BATCH_MAX:]
                await self._write(batch)

    async def _write(self, batch: list[_Click]) -> None:
        try:
            async with self.db.session() as session:
                results = await record_answers(session, [(c.question_id, c.user_id, c.choice) for c in batch])
        except BaseException as error:  # the whole unit of work failed (or was cancelled): every click hears so
            if not isinstance(error, asyncio.CancelledError):
                log.warning("writing %d quiz answers failed: %s", len(batch), error)
            failure = error if isinstance(error, Exception) else RuntimeError("the bot is shutting down")
            for click in batch:
                if not click.done.done():
                    click.done.set_exception(failure)
            if not isinstance(error, Exception):
                raise
            return
        self.batches += 1
        self.writes += sum(isinstance(r, Recorded) for r in results)
        for click, result in zip(batch, results, strict=True):
            if click.done.done():  # the click's handler gave up waiting
                continue
            if isinstance(result, Exception):
                click.done.set_exception(result)
            else:
                click.done.set_result(result)


async def record_answers(
    session: AsyncSession, clicks: list[tuple[int, int, int]]
) -> list[Recorded | Exception]:
    """Lock in many (question, player, choice) clicks in order; one result per click (see the module)."""
    results: list[Recorded | Exception | None] = [None] * len(clicks)
    by_question: dict[int, list[int]] = {}
    for index, (question_id, _, _) in enumerate(clicks):
        by_question.setdefault(question_id, []).append(index)
    now = utcnow()
    for question_id, indexes in by_question.items():
        # 1. the question must be open (its row share-locked until commit on PostgreSQL)
        question = await session.scalar(
            select(Question).where(Question.id == question_id).with_for_update(read=True)
        )
        if question is None or question.state != "open":
            for index in indexes:
                results[index] = QuestionClosed(f"question {question_id} is closed")
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
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        stmt = insert(PlayerAnswer)
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
