"""A database left at an older revision by a previous MIRAGE, with a running quiz in it (migration tests)."""

from __future__ import annotations

from sqlalchemy import text

from bot.store.database import make_engine
from bot.store.schema import upgrade_to_head

from .conftest import NOW


async def old_database_with_a_quiz(database_url: str, revision: str, choices: str) -> None:
    """Upgrade `database_url` only to `revision`, then write quiz 5 (thread 50) and its question 9 on
    ROCO_00042 with `choices` (JSON text), as that revision's schema stores them."""
    engine = make_engine(database_url)
    assert await upgrade_to_head(engine, target=revision) == revision
    at = NOW.replace(tzinfo=None) if engine.dialect.name == "sqlite" else NOW
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO quizzes (id, thread_id, guild_id, starter_id, kind, modality, question_count,"
                " state, deadline, created_at) VALUES (5, 50, 1, 7, 'caption', 'ct', 2, 'running', :t, :t)"
            ),
            {"t": at},
        )
        await connection.execute(
            text(
                "INSERT INTO quiz_questions (id, quiz_id, position, atlas_id, modality, choices, answer_index,"
                " state, deadline) VALUES (9, 5, 0, 'ROCO_00042', 'ct', :choices, 1, 'open', :t)"
            ),
            {"t": at, "choices": choices},
        )
    await engine.dispose()
