"""Migrations: up from empty, up from each earlier revision with data in it (and 0003 down again), the
models match the migrations, a newer schema is refused with both revisions named, and the settings
choose the URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import bot.store
from bot.config import BotSettings
from bot.store import SchemaTooNew, answers, open_database, open_url, quizzes, threads, turns
from bot.store.database import make_engine
from bot.store.models import Base
from bot.store.schema import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    database_url,
    head_revision,
    upgrade_to_head,
)

from .conftest import NOW

FOLLOW_UP_TABLES = {"answer_threads", "jobs", "turns"}
QUIZ_TABLES = {"quizzes", "quiz_questions", "player_answers", "review_cards", "review_log", "score_events"}
SET_TABLES = {"study_sets", "study_set_items"}
REPORT_TABLES = {"reports"}
HEAD = "0005"


async def _tables(engine) -> set[str]:  # noqa: ANN001
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))


async def _columns(engine: AsyncEngine, table: str) -> set[str]:
    async with engine.connect() as connection:
        return {c["name"] for c in await connection.run_sync(lambda c: inspect(c).get_columns(table))}


async def _downgrade(engine: AsyncEngine, target: str) -> None:
    """What an operator's `alembic downgrade` does, on this engine."""

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, target)

    async with engine.begin() as connection:
        await connection.run_sync(run)


def _at(engine: AsyncEngine) -> object:
    """NOW as raw SQL must write it (SQLite keeps naive UTC, see models.UTCDateTime)."""
    return NOW.replace(tzinfo=None) if engine.dialect.name == "sqlite" else NOW


async def test_an_empty_database_is_upgraded_to_the_newest_revision(database_url: str):
    db = await open_url(database_url)
    try:
        assert await current_revision(db.engine) == head_revision() == HEAD
        assert await _tables(db.engine) == FOLLOW_UP_TABLES | QUIZ_TABLES | SET_TABLES | REPORT_TABLES | {"alembic_version"}
    finally:
        await db.close()
    # Opening again is a no-op, not an error.
    db = await open_url(database_url)
    assert await current_revision(db.engine) == HEAD
    await db.close()


async def test_the_models_and_the_migrations_describe_the_same_schema(database_url: str):
    db = await open_url(database_url)
    try:
        async with db.engine.connect() as connection:
            diff = await connection.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
        assert diff == []
    finally:
        await db.close()


async def test_revision_1_with_data_is_upgraded_and_the_data_is_intact(database_url: str):
    # 1. a database left at revision 0001 by the previous MIRAGE, with a thread and a follow-up in it
    engine = make_engine(database_url)
    assert await upgrade_to_head(engine, target="0001") == "0001"
    assert await _tables(engine) == FOLLOW_UP_TABLES | {"alembic_version"}
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO answer_threads (thread_id, guild_id, channel_id, command, query, hit_ids, created_at)"
                " VALUES (77, 1, 2, 'search', 'old query', '[\"ROCO_9\", \"ROCO_1\"]', :t)"
            ),
            {"t": NOW.replace(tzinfo=None) if engine.dialect.name == "sqlite" else NOW},
        )
        await connection.execute(
            text(
                "INSERT INTO turns (thread_id, user_id, question, answer, cited_ids, grounded, created_at)"
                " VALUES (77, 5, 'why?', 'because [1]', '[\"ROCO_9\"]', true, :t)"
            ),
            {"t": NOW.replace(tzinfo=None) if engine.dialect.name == "sqlite" else NOW},
        )
    await engine.dispose()
    # 2. this MIRAGE starts: upgrade to the newest revision
    db = await open_url(database_url)
    try:
        assert await current_revision(db.engine) == HEAD
        async with db.session() as s:
            thread = await threads.get_thread(s, 77)
            assert thread is not None
            assert (thread.query, thread.hit_ids, thread.created_at) == (
                "old query",
                ["ROCO_9", "ROCO_1"],
                NOW,
            )
            (turn,) = await turns.thread_turns(s, 77)
            assert (turn.question, turn.cited_ids, turn.grounded) == ("why?", ["ROCO_9"], True)
            # the new tables work next to the old data
            await turns.add_turn(
                s, thread_id=77, user_id=6, question="and?", answer="a", cited_ids=[], grounded=False
            )
        assert await _tables(db.engine) >= QUIZ_TABLES
    finally:
        await db.close()


async def test_revision_2_with_a_quiz_is_upgraded_its_questions_keep_no_payload_and_new_ones_do(
    database_url: str,
):
    # 1. a database left at revision 0002 with a quiz in play: a question and a player's hint in it
    engine = make_engine(database_url)
    assert await upgrade_to_head(engine, target="0002") == "0002"
    assert "payload" not in await _columns(engine, "quiz_questions")
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO quizzes (id, thread_id, guild_id, starter_id, kind, modality, question_count,"
                " state, deadline, created_at) VALUES (5, 50, 1, 7, 'caption', 'ct', 2, 'running', :t, :t)"
            ),
            {"t": _at(engine)},
        )
        await connection.execute(
            text(
                "INSERT INTO quiz_questions (id, quiz_id, position, atlas_id, modality, choices, answer_index,"
                " state, deadline) VALUES (9, 5, 0, 'ROCO_00042', 'ct', '[{\"text\": \"a\"}, {\"text\": \"b\"}]',"
                " 1, 'open', :t)"
            ),
            {"t": _at(engine)},
        )
        await connection.execute(
            text(
                "INSERT INTO player_answers (question_id, user_id, choice, hint_level, answered_at)"
                " VALUES (9, 7, NULL, 1, :t)"
            ),
            {"t": _at(engine)},
        )
    await engine.dispose()
    # 2. this MIRAGE starts: the old question is intact, without a payload (hints come from the engine)
    db = await open_url(database_url)
    payload = {"hints": ["CT", "head"], "item": {"id": "ROCO_00043", "caption": "Axial CT.", "modality": "ct"}}
    try:
        assert await current_revision(db.engine) == HEAD
        async with db.session() as s:
            (old,) = await quizzes.open_questions(s)
            assert (old.id, old.atlas_id, old.choices, old.payload) == (9, "ROCO_00042", [{"text": "a"}, {"text": "b"}], None)
            (hinted,) = await answers.question_answers(s, 9)
            assert (hinted.user_id, hinted.hint_level, hinted.choice) == (7, 1, None)
            # the quiz goes on: its next question keeps what it asked
            await quizzes.reveal_question(s, 9, now=NOW)
            new = await quizzes.add_question(
                s, 5, position=1, atlas_id="ROCO_00043", modality="ct", choices=[{"text": "c"}, {"text": "d"}],
                answer_index=0, deadline=NOW, payload=payload,
            )  # fmt: skip
        async with db.session() as s:
            assert (await quizzes.get_question(s, new.id)).payload == payload
    finally:
        await db.close()
    # 3. and down again to 0002 (an operator going back to the previous MIRAGE): the rows stay
    engine = make_engine(database_url)
    try:
        await _downgrade(engine, "0002")
        assert await current_revision(engine) == "0002"
        assert "payload" not in await _columns(engine, "quiz_questions")
        async with engine.connect() as connection:
            kept = await connection.execute(text("SELECT id, atlas_id FROM quiz_questions"))
            assert {tuple(r) for r in kept} == {(9, "ROCO_00042"), (new.id, "ROCO_00043")}
    finally:
        await engine.dispose()


async def test_a_schema_newer_than_the_code_is_refused_naming_both_revisions(database_url: str):
    db = await open_url(database_url)
    async with db.engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    await db.close()
    with pytest.raises(SchemaTooNew) as refused:
        await open_url(database_url)
    message = str(refused.value)
    assert "this database was upgraded by a newer MIRAGE (rev 0099)" in message
    assert f"this code knows up to {HEAD}" in message
    # nothing was touched
    engine = make_engine(database_url)
    assert await current_revision(engine) == "0099"
    await engine.dispose()


async def test_the_bot_settings_choose_sqlite_in_the_data_dir_or_the_given_url(tmp_path: Path):
    settings = BotSettings(discord_token="t.t.t", data_dir=tmp_path / "data")
    assert database_url(settings) == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bot.sqlite3'}"
    db = await open_database(settings)  # creates the directory and the file
    assert (tmp_path / "data" / "bot.sqlite3").is_file()
    await db.close()
    given = BotSettings(discord_token="t.t.t", database_url="postgresql+asyncpg://u:pw@db:5432/mirage")
    assert database_url(given) == "postgresql+asyncpg://u:pw@db:5432/mirage"
    assert "pw" not in repr(given)  # the password never lands in a log line


def test_the_settings_refuse_a_database_url_the_store_cannot_use():
    with pytest.raises(
        ValueError, match="MIRAGE_DATABASE_URL must start with postgresql\\+asyncpg:// or sqlite"
    ):
        BotSettings(discord_token="t.t.t", database_url="postgres://u@h/db")
    assert BotSettings(discord_token="t.t.t", database_url="  ").database_url is None


def test_the_migrations_ship_inside_the_package():
    assert MIGRATIONS_DIR.is_relative_to(Path(bot.store.__file__).parent)
    assert sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("0*.py")) == [
        "0001_follow_ups.py",
        "0002_quizzes_review_scores.py",
        "0003_question_payload.py",
        "0004_study_sets.py",
        "0005_reports_and_quiz_pools.py",
    ]
    assert (MIGRATIONS_DIR / "env.py").is_file() and (MIGRATIONS_DIR / "script.py.mako").is_file()
