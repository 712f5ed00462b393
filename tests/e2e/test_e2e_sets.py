"""End to end: a teacher builds a study set from search hits with the ➕ Add to set button, plays it with a
student as a group quiz (the set's images in the set's order), exports it as a file and imports it again,
with the real bot process (SQLite in a temp dir) and the real tiny engine, through the Discord stand-in.

Who is a teacher is what Discord says in the interaction: the stand-in's members get Manage Messages only
while `teacher()` holds (MIRAGE_SET_EDITOR_ROLES is the other way in, tested at the flow level).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator

import pytest

from tests.e2e.answers import wait_for_answer
from tests.e2e.conftest import RestartableBot, restartable_bot
from tests.e2e.standin import InteractionRecord, MessageRecord, StandIn
from tests.e2e.standin.commands import AttachmentUpload
from tests.e2e.standin.payloads import PERMISSIONS

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(600)]

REVEAL_S = 5.0
ANSWER_TIMEOUT_S = 120.0
SET_NAME = "Week 3 chest"
ADD = "mirage:set:add:"
PICK = "mirage:set:to:"
REVEAL_HEAD = re.compile(r"✅ \*\*Question (\d+)/(\d+): ([A-E])\*\*")

sets_bot = restartable_bot("sets_bot", MIRAGE_QUIZ_REVEAL_S=str(REVEAL_S))


@pytest.fixture(autouse=True)
def bot_stays_healthy(sets_bot: RestartableBot) -> Iterator[None]:
    """After each test: the bot is alive and asked the stand-in for nothing it lacks."""
    yield
    sets_bot.assert_healthy()


@contextlib.contextmanager
def teacher(standin: StandIn) -> Iterator[None]:
    """Members may manage messages meanwhile (what makes a teacher without a configured role)."""
    before = standin.world.member_permissions
    standin.world.member_permissions = before | PERMISSIONS["manage_messages"]
    try:
        yield
    finally:
        standin.world.member_permissions = before


def private(standin: StandIn, record: InteractionRecord) -> MessageRecord:
    """The last private message an interaction got."""
    replies = standin.interaction_messages(record)
    assert replies, f"{record.custom_id or record.command} got no reply"
    assert all(r.ephemeral for r in replies), [r.content for r in replies]
    return replies[-1]


async def reply_to(standin: StandIn, record: InteractionRecord, what: str) -> MessageRecord:
    """Wait for the private answer with some content (a deferred one is edited in later)."""
    await standin.wait_for(
        lambda: (r := standin.interaction_messages(record)) and r[-1].content.strip() and r[-1], 60, what
    )
    return private(standin, record)


async def slash(standin: StandIn, path: str, user: str, **options: object) -> MessageRecord:
    record = await standin.run_slash(f"mirage set {path}", dict(options), user=user)
    assert record.acked, path
    return await reply_to(standin, record, f"/mirage set {path}")


async def test_a_set_built_from_search_hits_is_played_in_order_exported_and_imported(
    module_standin: StandIn, sets_bot: RestartableBot
) -> None:
    s = module_standin
    # 1. the teacher makes the set; a student may not
    refused = await slash(s, "create", "student1", name="Mine")
    assert "for teachers" in refused.content
    with teacher(s):
        made = await slash(s, "create", "teacher", name=SET_NAME)
    assert f"Made the study set **{SET_NAME}**" in made.content
    with teacher(s):
        again = await slash(s, "create", "teacher", name="week 3 CHEST")
    assert "already has a set named" in again.content
    assert sets_bot.rows("SELECT title FROM study_sets") == [(SET_NAME,)]

    # 2. a search; its hits carry ➕ Add to set
    record = await s.run_slash("mirage search", {"query": "round nodule on chest x-ray", "k": 3}, user="teacher")
    search = await wait_for_answer(s, record, ANSWER_TIMEOUT_S)
    assert search.ok, search.status.content
    add_id = next(c for c in search.footer.custom_ids if c.startswith(ADD))
    hit_ids = add_id.removeprefix(ADD).split(",")
    assert len(hit_ids) == 3 and all(h in search.text for h in hit_ids)
    assert any(b.get("label") == "Add to set" for b in search.footer.buttons)

    # 3. a student's click is refused privately; the teacher's shows the sets, the most recent first
    student_click = await s.press_button(search.footer, add_id, user="student1")
    assert "for teachers" in private(s, student_click).content
    with teacher(s):
        click = await s.press_button(search.footer, add_id, user="teacher")
    picker = private(s, click)
    assert "to which study set?" in picker.content and SET_NAME in picker.content
    (pick_id,) = [c for c in picker.custom_ids if c.startswith(PICK)]
    assert picker.buttons[0]["label"] == f"{SET_NAME} (0)"
    with teacher(s):
        picked = await s.press_button(picker, pick_id, user="teacher")
    added = await reply_to(s, picked, "the add")
    assert f"**{SET_NAME}** now has 3 images" in added.content

    # 4. typed ids: one not in the atlas is named, one already in is said, the set keeps the rest
    with teacher(s):
        typed = await slash(s, "add", "teacher", name="week 3 chest", ids=f"ROCO_99999, {hit_ids[0]}")
    assert "Not in the atlas, left out: `ROCO_99999`" in typed.content
    assert f"Already in the set: `{hit_ids[0]}`" in typed.content
    listed = await slash(s, "list", "student1", name=SET_NAME)
    assert [m for m in re.findall(r"\d+\. `([^`]+)`", listed.content)] == hit_ids

    # 5. export: a small JSON file with the ids in order
    exported = await slash(s, "export", "student1", name=SET_NAME)
    (file,) = exported.files
    assert file.filename == "week-3-chest.mirage-set.json"
    body = json.loads(file.data)
    assert body == {"format": "mirage-study-set", "version": 1, "name": SET_NAME, "items": hit_ids}

    # 6. import: the same name is refused (nothing changes), a new name makes a copy; ids not in the
    # atlas are listed and the rest kept; not JSON and too big are refused
    with teacher(s):
        same = await slash(s, "import", "teacher", file=AttachmentUpload(file.filename, file.data))
        assert "already has a set named" in same.content and "Nothing was changed" in same.content
        body["items"].insert(1, "ROCO_88888")
        upload = AttachmentUpload("course.json", json.dumps(body).encode())
        copied = await slash(s, "import", "teacher", file=upload, name="Week 3 copy")
        assert "Imported" in copied.content and "**Week 3 copy** now has 3 images" in copied.content
        assert "Not in the atlas, left out: `ROCO_88888`" in copied.content
        not_json = await slash(s, "import", "teacher", file=AttachmentUpload("notes.json", b"\x89PNG not json"))
        assert "not a JSON file" in not_json.content and "Nothing was changed" in not_json.content
        huge = await slash(s, "import", "teacher", file=AttachmentUpload("big.json", b" " * (70 * 1024)))
        assert "at most 64 KB" in huge.content
    assert sorted(sets_bot.rows("SELECT title FROM study_sets")) == [("Week 3 chest",), ("Week 3 copy",)]

    # 7. play: a student starts it; one question per image in the set's order, then the scoreboard
    start = await s.run_slash("mirage set play", {"name": "week 3 copy"}, user="student1")
    assert start.acked
    thread = await s.wait_for_thread(start, 60)
    thread_id = int(thread["id"])
    header = s.interaction_messages(start)[0]
    assert "Study set quiz: Week 3 copy" in header.content and "3 questions" in header.content
    await s.wait_for_messages(
        thread_id, lambda ms: any("🏁 Quiz over" in m.content for m in ms), 120, "the quiz's end"
    )
    reveals = [m for m in s.messages_in(thread_id) if REVEAL_HEAD.search(m.content)]
    assert [REVEAL_HEAD.search(m.content).group(1, 2) for m in reveals] == [("1", "3"), ("2", "3"), ("3", "3")]
    asked = sets_bot.rows(
        "SELECT q.atlas_id FROM quiz_questions q JOIN quizzes z ON z.id = q.quiz_id WHERE z.thread_id = ? "
        "ORDER BY q.position", thread_id,
    )
    assert [a for (a,) in asked] == hit_ids
    for reveal, atlas_id in zip(reveals, hit_ids, strict=True):
        assert atlas_id in reveal.text

    # 8. only its owner or a moderator deletes a set
    not_owner = await slash(s, "delete", "student1", name="Week 3 copy")
    assert "Only the teacher who made **Week 3 copy** or a moderator" in not_owner.content
    with teacher(s):
        deleted = await slash(s, "delete", "teacher", name="Week 3 copy")
    assert "Deleted the study set **Week 3 copy** (3 images)" in deleted.content
    assert sets_bot.rows("SELECT title FROM study_sets") == [(SET_NAME,)]
    empty = await slash(s, "play", "student1", name="No such set")
    assert "no study set named **No such set**" in empty.content and SET_NAME in empty.content


async def test_a_set_quiz_goes_on_in_the_sets_order_after_the_bot_restarts(
    module_standin: StandIn, sets_bot: RestartableBot
) -> None:
    s = module_standin
    ids = ["ROCO_00113", "ROCO_00042", "ROCO_00007"]
    with teacher(s):
        await slash(s, "create", "teacher2", name="Restart set")
        added = await slash(s, "add", "teacher2", name="Restart set", ids=" ".join(ids))
    assert "now has 3 images" in added.content
    start = await s.run_slash("mirage set play", {"name": "Restart set"}, user="student2")
    thread_id = int((await s.wait_for_thread(start, 60))["id"])
    await s.wait_for_messages(
        thread_id, lambda ms: any(c.startswith("mirage:quiz:a:") for m in ms for c in m.custom_ids), 60, "question 1"
    )
    await sets_bot.restart()  # a crash during question 1: the next questions come from the quiz's row
    await s.wait_for_messages(thread_id, lambda ms: any("🏁 Quiz over" in m.content for m in ms), 120, "the end")
    asked = sets_bot.rows(
        "SELECT q.atlas_id FROM quiz_questions q JOIN quizzes z ON z.id = q.quiz_id WHERE z.thread_id = ? "
        "ORDER BY q.position", thread_id,
    )
    assert [a for (a,) in asked] == ids
