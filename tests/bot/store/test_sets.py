"""Study sets in the database (SQLite and PostgreSQL): names unique per server regardless of case, items
in order without duplicates, removal closing the gaps, forget-me keeping the set for the server, the
migration up from 0003 with data, and `bot.store copy` carrying sets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.store import Database, open_url, people, quizzes, sets
from bot.store.copy import copy_database
from bot.store.database import make_engine
from bot.store.schema import current_revision, head_revision
from bot.store.sets import SET_ITEMS_MAX, SetError

from .conftest import NOW
from .old_revisions import old_database_with_a_quiz

GUILD, OTHER_GUILD, TEACHER, COLLEAGUE = 100, 200, 7, 8


async def _make(db: Database, title: str = "Week 3 chest", ids: list[str] | None = None, **kw: int) -> int:
    async with db.session() as s:
        made = await sets.create_set(s, guild_id=kw.get("guild", GUILD), title=title, owner_id=kw.get("owner", TEACHER), now=NOW)
        if ids:
            await sets.add_items(s, made, ids, now=NOW)
        return made.id


async def test_a_set_keeps_its_items_in_the_order_added_and_skips_ones_it_has(db: Database):
    set_id = await _make(db, ids=["ROCO_3", "ROCO_1"])
    async with db.session() as s:
        study_set = await sets.get_set(s, set_id)
        added = await sets.add_items(s, study_set, ["ROCO_1", "ROCO_9", "ROCO_9", "ROCO_2"], now=NOW)
    assert (added.added, added.already, added.over_limit) == (["ROCO_9", "ROCO_2"], ["ROCO_1"], [])
    async with db.session() as s:
        assert await sets.set_items(s, set_id) == ["ROCO_3", "ROCO_1", "ROCO_9", "ROCO_2"]


async def test_names_are_unique_per_server_whatever_the_case_and_free_in_another_server(db: Database):
    await _make(db, "Week 3 chest")
    async with db.session() as s:
        with pytest.raises(SetError, match=r"already has a set named \*\*week 3 CHEST\*\*"):
            await sets.create_set(s, guild_id=GUILD, title="  week 3   CHEST ", owner_id=COLLEAGUE)
    await _make(db, "Week 3 chest", guild=OTHER_GUILD)  # another server may use the name
    async with db.session() as s:
        found = await sets.find_set(s, GUILD, "WEEK 3 chest")
        assert found is not None and found.title == "Week 3 chest" and found.guild_id == GUILD
        assert await sets.find_set(s, GUILD, "week 4") is None
        with pytest.raises(SetError, match="needs a name"):
            await sets.create_set(s, guild_id=GUILD, title="   ", owner_id=TEACHER)


async def test_removing_items_keeps_the_others_in_order_and_names_the_absent(db: Database):
    set_id = await _make(db, ids=["A", "B", "C", "D"])
    async with db.session() as s:
        study_set = await sets.get_set(s, set_id)
        removed, absent = await sets.remove_items(s, study_set, ["B", "Z", "D"])
    assert (removed, absent) == (["B", "D"], ["Z"])
    async with db.session() as s:
        study_set = await sets.get_set(s, set_id)
        assert await sets.set_items(s, set_id) == ["A", "C"]
        await sets.add_items(s, study_set, ["E"])  # appended after the closed gaps
        assert await sets.set_items(s, set_id) == ["A", "C", "E"]


async def test_a_set_holds_at_most_its_limit_and_says_which_ids_did_not_fit(db: Database):
    ids = [f"ROCO_{i:05d}" for i in range(SET_ITEMS_MAX + 2)]
    set_id = await _make(db)
    async with db.session() as s:
        added = await sets.add_items(s, await sets.get_set(s, set_id), ids)
    assert added.added == ids[:SET_ITEMS_MAX] and added.over_limit == ids[SET_ITEMS_MAX:]


async def test_the_server_list_shows_the_most_recently_changed_first_with_sizes(db: Database):
    old = await _make(db, "Old", ids=["A"])
    new = await _make(db, "New", ids=["A", "B"])
    await _make(db, "Elsewhere", guild=OTHER_GUILD)
    async with db.session() as s:
        await sets.add_items(s, await sets.get_set(s, old), ["C"], now=NOW + timedelta(hours=1))
    async with db.session() as s:
        listed = await sets.server_sets(s, GUILD)
    assert [(x.id, x.title, x.size, x.owner_id) for x in listed] == [(old, "Old", 2, TEACHER), (new, "New", 2, TEACHER)]


async def test_deleting_a_set_deletes_its_items_and_nothing_else(db: Database):
    keep = await _make(db, "Keep", ids=["A", "B"])
    gone = await _make(db, "Gone", ids=["A", "C", "D"])
    async with db.session() as s:
        assert await sets.delete_set(s, await sets.get_set(s, gone)) == 3
    async with db.session() as s:
        assert await sets.get_set(s, gone) is None
        assert await sets.set_items(s, keep) == ["A", "B"]
        assert await sets.set_items(s, gone) == []


async def test_forget_me_keeps_the_owners_sets_for_the_server_without_their_id(db: Database):
    mine = await _make(db, "Mine", ids=["A"])
    theirs = await _make(db, "Theirs", ids=["B"], owner=COLLEAGUE)
    async with db.session() as s:
        assert (await people.count_user_rows(s, TEACHER))["sets_owned"] == 1
    async with db.session() as s:
        assert (await people.forget_user(s, TEACHER))["sets_owned"] == 1
    async with db.session() as s:
        kept, other = await sets.get_set(s, mine), await sets.get_set(s, theirs)
        assert kept is not None and kept.owner_id is None and await sets.set_items(s, mine) == ["A"]
        assert other is not None and other.owner_id == COLLEAGUE
        assert (await people.count_user_rows(s, TEACHER))["sets_owned"] == 0


async def test_a_quiz_over_a_set_keeps_its_ids_in_order(db: Database):
    async with db.session() as s:
        quiz = await quizzes.start_quiz(
            s, thread_id=5, guild_id=GUILD, starter_id=TEACHER, kind="caption", modality=None, question_count=3,
            item_ids=["C", "A", "B"], now=NOW,
        )  # fmt: skip
    async with db.session() as s:
        assert (await quizzes.get_quiz(s, quiz.id)).item_ids == ["C", "A", "B"]


async def test_revision_3_with_a_quiz_is_upgraded_and_sets_work_beside_it(database_url: str):
    # 1. a database left at revision 0003 by the previous MIRAGE, with a quiz in it
    await old_database_with_a_quiz(database_url, "0003", '[]')
    # 2. this MIRAGE starts: the quiz is intact (no set ids), and sets can be made
    db = await open_url(database_url)
    try:
        assert await current_revision(db.engine) == head_revision()
        async with db.session() as s:
            old = await quizzes.get_quiz(s, 5)
            assert (old.thread_id, old.question_count, old.item_ids) == (50, 2, None)
        set_id = await _make(db, ids=["ROCO_2", "ROCO_1"])
    finally:
        await db.close()
    # 3. down to 0003 again: the quiz and its question stay, the set tables go
    engine = make_engine(database_url)
    try:
        from alembic import command

        from bot.store.schema import alembic_config

        def down(connection: object) -> None:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0003")

        async with engine.begin() as connection:
            await connection.run_sync(down)
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT id FROM quizzes"))).scalars().all() == [5]
            # its question too (dropping the column never copies and drops `quizzes`, cascading to them)
            assert (await connection.execute(text("SELECT id FROM quiz_questions"))).scalars().all() == [9]
        assert await current_revision(engine) == "0003"
    finally:
        await engine.dispose()
    assert set_id > 0


async def test_copy_carries_sets_and_their_items_in_order(tmp_path: Path, pg_url: str):
    source = f"sqlite+aiosqlite:///{tmp_path / 'source.sqlite3'}"
    db = await open_url(source)
    set_id = await _make(db, "Week 3 chest", ids=["ROCO_3", "ROCO_1", "ROCO_2"])
    async with db.session() as s:
        await sets.remove_items(s, await sets.get_set(s, set_id), ["ROCO_1"])
    await db.close()
    copied = await copy_database(source, pg_url)
    assert copied["study_sets"] == 1 and copied["study_set_items"] == 2
    target = await open_url(pg_url)
    try:
        async with target.session() as s:
            found = await sets.find_set(s, GUILD, "week 3 chest")
            assert found is not None and found.id == set_id and found.owner_id == TEACHER
            assert await sets.set_items(s, set_id) == ["ROCO_3", "ROCO_2"]
            # the copy keeps working: a new set gets a fresh id
            fresh = await sets.create_set(s, guild_id=GUILD, title="Week 4", owner_id=TEACHER)
            assert fresh.id != set_id
    finally:
        await target.close()
