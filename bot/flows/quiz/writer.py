"""Clicks to the database in batches: one transaction, and a few statements, for every click that
arrived while the previous batch was being written.

A question can get a hundred clicks in the same second. One transaction each would make them queue
for SQLite's single writer lock (or for pooled PostgreSQL connections) and wait in lock back-offs;
instead one task writes whatever has piled up with `bot.store.answers.record_answers`: per question,
one open check (share-locking its row on PostgreSQL, so a reveal waits for the batch), one read of
the players' previous choices and one upsert. Each click still gets its own result, exactly as
`record_answer` would give it one after the other. The batch goes through the database's one writer
(`Database.write`): while the database is locked or down it is tried again, for minutes
(`WRITE_DEADLINE_S`), not given up after one 5 s lock wait; only then does every click of it hear so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from bot.store.answers import Recorded, record_answers
from bot.store.database import Database

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
        rows = [(c.question_id, c.user_id, c.choice) for c in batch]
        try:
            results = await self.db.write(lambda session: record_answers(session, rows))
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

