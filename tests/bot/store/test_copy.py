"""Moving from SQLite to PostgreSQL: `python -m bot.store copy` copies every row, the copy keeps
working (new rows get fresh ids), and it refuses a non-empty target or an outdated source."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from fsrs import Rating
from sqlalchemy import select

from bot.store import answers, cards, jobs, open_url, quizzes, settle, threads, turns
from bot.store.copy import CopyRefused, copy_database
from bot.store.database import make_engine
from bot.store.models import Base
from bot.store.schema import upgrade_to_head

from .conftest import NOW

REPO = Path(__file__).resolve().parents[3]


async def _seed(url: str) -> None:
    db = await open_url(url)
    async with db.session() as s:
        await threads.remember_thread(
            s,
            thread_id=10,
            channel_id=11,
            guild_id=12,
            command="search",
            query="q",
            hit_ids=["A", "B"],
            now=NOW,
        )
        await turns.add_turn(
            s, thread_id=10, user_id=1, question="?", answer="[1]", cited_ids=["A"], grounded=True, now=NOW
        )
        await jobs.save_job(
            s, job_id="abc", user_id=1, kind="search", request={"query": "q", "k": 5}, now=NOW
        )
        quiz = await quizzes.start_quiz(
            s,
            thread_id=10,
            guild_id=12,
            starter_id=1,
            kind="caption",
            modality="ct",
            question_count=2,
            now=NOW,
        )
        question = await quizzes.add_question(
            s, quiz.id, position=0, atlas_id="A", modality="ct", choices=[{"text": "x"}, {"text": "y"}],
            answer_index=1, deadline=NOW + timedelta(seconds=45), payload={"hints": ["ct", "brain"], "item": {"id": "A"}},
        )  # fmt: skip
        for user in (1, 2, 3):
            await answers.record_answer(s, question.id, user, user % 2, now=NOW)
    async with db.session() as s:
        await settle.settle_question(s, question.id, now=NOW)
        await cards.review(s, user_id=2, atlas_id="B", rating=Rating.Easy, source="review", now=NOW)
    await db.close()


async def _dump(url: str) -> dict[str, list[dict]]:
    engine = make_engine(url)
    dump: dict[str, list[dict]] = {}
    async with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows = await connection.execute(select(table).order_by(*table.primary_key.columns))
            dump[table.name] = [row._asdict() for row in rows]
    await engine.dispose()
    return dump


async def test_copy_from_sqlite_to_postgresql_keeps_every_row_and_the_copy_keeps_working(
    tmp_path: Path, pg_url: str
):
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    await _seed(sqlite_url)
    copied = await copy_database(sqlite_url, pg_url, batch_rows=2)  # small batches: several per table
    before, after = await _dump(sqlite_url), await _dump(pg_url)
    assert after == before
    assert copied == {name: len(rows) for name, rows in before.items()}
    assert copied["player_answers"] == 3 and copied["review_log"] == 4 and sum(copied.values()) > 15
    # new rows on PostgreSQL get ids after the copied ones
    db = await open_url(pg_url)
    async with db.session() as s:
        turn = await turns.add_turn(
            s, thread_id=10, user_id=4, question="more?", answer="-", cited_ids=[], grounded=False
        )
        card = await cards.review(s, user_id=4, atlas_id="C", rating=Rating.Good, source="review", now=NOW)
        assert turn.id > max(r["id"] for r in before["turns"])
        assert card.id > max(r["id"] for r in before["review_cards"])
        assert (await quizzes.running_quiz(s, 10)).question_count == 2
    await db.close()
    # a second copy into the now non-empty target is refused
    with pytest.raises(
        CopyRefused, match="the target database is not empty: table answer_threads has 1 rows"
    ):
        await copy_database(sqlite_url, pg_url)


async def test_copy_refuses_a_source_that_is_not_at_this_codes_revision(tmp_path: Path, pg_url: str):
    old_url = f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
    engine = make_engine(old_url)
    await upgrade_to_head(engine, target="0001")
    await engine.dispose()
    with pytest.raises(CopyRefused, match="source database is at revision 0001, this code at 0005"):
        await copy_database(old_url, pg_url)
    missing = tmp_path / "typo.sqlite3"
    with pytest.raises(CopyRefused, match="typo.sqlite3 does not exist"):
        await copy_database(f"sqlite+aiosqlite:///{missing}", pg_url)
    assert not missing.exists()  # and no empty file was left behind


async def test_the_copy_command_line_copies_and_reports_errors_in_one_line(tmp_path: Path, pg_url: str):
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    await _seed(sqlite_url)
    command = [sys.executable, "-m", "bot.store", "copy", "--from", sqlite_url, "--to", pg_url]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "player_answers: 3 rows" in done.stdout and "copied" in done.stdout
    again = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        "error: the target database is not empty: table answer_threads has 1 rows"
    ]
    current = subprocess.run(
        [sys.executable, "-m", "bot.store", "current", "--url", pg_url],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert current.stdout.strip() == "0005 (this code knows up to 0005)"
    bad = subprocess.run(
        [sys.executable, "-m", "bot.store", "upgrade", "--url", "mysql://x/y"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert bad.returncode == 2 and "database URL scheme 'mysql' is not supported" in bad.stderr
