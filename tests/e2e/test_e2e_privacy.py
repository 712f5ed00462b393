"""End to end, what MIRAGE keeps about people: an uploaded file's name is never echoed (it often names a
patient), `/mirage forget-me` removes the texts a student typed, and texts past MIRAGE_RETENTION_DAYS are
deleted by the bot's own schedule. Checked where a user looks (every request the bot made to the Discord
stand-in) and in the bot's database file itself (every value of every table)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.e2e.answers import wait_for_answer
from tests.e2e.conftest import RestartableBot, restartable_bot
from tests.e2e.standin import StandIn

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(900),  # the first start builds the tiny models
]

ANSWER_TIMEOUT_S = 120.0
privacy_bot = restartable_bot("privacy_bot")


def database_text(bot: RestartableBot) -> str:
    """Every value of every row of every table in the bot's database file, as one string."""
    with sqlite3.connect(bot.db_path) as conn:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for table in tables for row in conn.execute(f'SELECT * FROM "{table}"'))


def sent_to_discord(standin: StandIn) -> str:
    """Everything the bot sent to Discord: paths, JSON bodies (messages, edits, thread names, replies) and
    the names and alt texts of its uploads; not its download of the user's own attachment from the CDN."""
    parts: list[str] = []
    for call in standin.calls:
        if call.path.startswith("/cdn/"):
            continue
        parts += [call.path, json.dumps(call.json, ensure_ascii=False)]
        parts += [f"{f.filename} {f.description}" for f in call.files]
    return "\n".join(parts)


async def search(standin: StandIn, user: str, options: dict[str, object]) -> None:
    """Run /mirage search and wait for a finished answer."""
    record = await standin.run_slash("mirage search", options, user=user)
    answer = await wait_for_answer(standin, record, ANSWER_TIMEOUT_S)
    assert answer.ok, answer.status.content


async def test_image_search_never_echoes_the_uploaded_file_name(
    module_standin: StandIn, privacy_bot: RestartableBot, test_cache_dir: Path
) -> None:
    scan = sorted((test_cache_dir / "demo-roco").rglob("ROCO_*.jpg"))[0]
    await search(module_standin, "dana", {"image": ("Jane Doe MRN4471 chest.jpg", scan.read_bytes()), "k": 2})

    shown = sent_to_discord(module_standin)
    assert "Image search: your uploaded image" in shown and "Never upload an image that identifies a patient" in shown
    stored = database_text(privacy_bot)
    assert "your uploaded image" in stored  # the thread was remembered, under a neutral name
    for piece in ("Jane", "Doe", "MRN4471"):
        assert piece not in shown, piece
        assert piece not in stored, piece
    privacy_bot.assert_healthy()


async def test_forget_me_removes_the_texts_a_student_typed(
    module_standin: StandIn, privacy_bot: RestartableBot
) -> None:
    s = module_standin
    mine, theirs = "rash after my own biopsy on chest x-ray", "pleural effusion on chest x-ray"
    await search(s, "erin", {"query": mine, "k": 1})
    await search(s, "finn", {"query": theirs, "k": 1})
    assert mine in database_text(privacy_bot) and theirs in database_text(privacy_bot)

    ask = await s.run_slash("mirage forget-me", user="erin")
    (prompt,) = s.interaction_messages(ask)
    confirm = await s.press_button(prompt, prompt.custom_ids[0], user="erin")
    assert confirm.ack_type == 7 and "Deleted" in prompt.content

    stored = database_text(privacy_bot)
    assert mine not in stored, "erin's query is still kept"
    assert theirs in stored, "finn's query must stay"
    privacy_bot.assert_healthy()


async def test_texts_older_than_the_retention_window_are_deleted_by_the_schedule(
    module_standin: StandIn, privacy_bot: RestartableBot
) -> None:
    s = module_standin
    old, recent = "old question about a pneumothorax", "recent question about a pneumothorax"
    await search(s, "gus", {"query": old, "k": 1})
    await search(s, "gus", {"query": recent, "k": 1})
    # 200 days pass for the first one (the default window is 180 days)
    with sqlite3.connect(privacy_bot.db_path) as conn:
        for table, column in (("jobs", "request"), ("answer_threads", "query")):
            conn.execute(
                f"UPDATE {table} SET created_at = '2000-01-01 00:00:00.000000' WHERE {column} LIKE ?", (f"%{old}%",)
            )
    assert old in database_text(privacy_bot)

    await privacy_bot.restart()  # the schedule's first pass runs at start
    await s.wait_for(lambda: old not in database_text(privacy_bot), 30, "the retention pass")
    assert recent in database_text(privacy_bot)
    privacy_bot.assert_healthy()
