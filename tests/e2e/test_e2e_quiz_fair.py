"""End to end, fair questions: the real bot (SQLite in a temp dir) and the real tiny engine, driven through
the Discord stand-in. A group quiz lists every choice in full with letter-only buttons and the hints'
cost; the hint ladder shows, then strikes two wrong letters, and the points follow the engine's rule;
students report a question (a second report by one student changes nothing; two students retire it),
`/mirage reports` is for moderators only, a report on a deleted quiz changes nothing; and the quiz's
pools: refusals before the engine is asked, an unknown concept and a narrow topic in words, a topic and a
concept quiz.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import RestartableBot, restartable_bot
from tests.e2e.standin import InteractionRecord, MessageRecord, StandIn
from tests.e2e.standin import payloads as P

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(600)]

REVEAL_S = 12.0
ANSWER, HINT, REPORT, REASON = "mirage:quiz:a:", "mirage:quiz:h:", "mirage:quiz:rep:", "mirage:quiz:rr:"
REVEAL_HEAD = re.compile(r"✅ \*\*Question (\d+)/(\d+): ([A-E])\*\*")
BOARD_LINE = re.compile(r"<@(\d+)> · (\d+) pts · (\d+)/(\d+) right")
CHOICE_LINE = re.compile(r"^\*\*([A-E])\*\* · (.*)$")
DEMO_FINDING = "C0577559"  # "mass": a finding concept the tiny demo atlas carries on many captions

fair_bot = restartable_bot("fair_bot", MIRAGE_QUIZ_REVEAL_S=str(REVEAL_S))


@pytest.fixture(autouse=True)
def bot_stays_healthy(fair_bot: RestartableBot) -> Iterator[None]:
    """After each test: the bot is alive and asked the stand-in for nothing it lacks."""
    yield
    fair_bot.assert_healthy()


def private_reply(standin: StandIn, record: InteractionRecord) -> MessageRecord:
    replies = standin.interaction_messages(record)
    assert replies, f"{record.custom_id or record.command} got no reply"
    assert all(r.ephemeral for r in replies), [r.content for r in replies]
    return replies[-1]


async def settled_reply(standin: StandIn, record: InteractionRecord) -> MessageRecord:
    """The last reply once it is no longer 'thinking'."""
    return await standin.wait_for(
        lambda: (m := standin.interaction_messages(record)) and not m[-1].loading and m[-1], 60, "the reply"
    )


def uid(standin: StandIn, name: str) -> int:
    return int(standin.world.user(name)["id"])


def first_id(message: MessageRecord, prefix: str) -> str:
    return next(c for c in message.custom_ids if c.startswith(prefix))


async def question_in(standin: StandIn, thread_id: int) -> MessageRecord:
    found = await standin.wait_for(
        lambda: [m for m in standin.messages_in(thread_id) if any(c.startswith(ANSWER) for c in m.custom_ids)],
        90, "the question",
    )  # fmt: skip
    return found[0]


def as_moderator(standin: StandIn, on: bool) -> None:
    """Every member gets (or loses) Manage Messages, for the next interaction."""
    members = P.permission_value(P.MEMBER_PERMISSIONS)
    standin.world.member_permissions = members | (P.permission_value(["manage_messages"]) if on else 0)


async def test_full_choices_hints_and_reports_in_a_group_quiz(module_standin: StandIn, fair_bot: RestartableBot):
    s = module_standin
    start = await s.run_slash("mirage quiz", {"questions": 1}, user="ana")
    thread_id = int((await s.wait_for_thread(start, 60))["id"])
    q = await question_in(s, thread_id)
    qid = int(first_id(q, ANSWER).split(":")[3])
    ((choices_json, answer_index, atlas_id),) = fair_bot.rows(
        "SELECT choices, answer_index, atlas_id FROM quiz_questions WHERE id = ?", qid
    )
    stored = json.loads(choices_json)
    right = "ABCDE"[answer_index]

    # 1. every choice in full on the message (the engine's full_text), only letters on the buttons
    shown = {m[1]: m[2] for line in q.content.splitlines() if (m := CHOICE_LINE.match(line))}
    assert shown == {"ABCDE"[i]: c["full_text"] for i, c in enumerate(stored)}
    assert [b["label"] for b in q.buttons][: len(stored)] == list("ABCDE"[: len(stored)])
    assert len(q.content) <= 2000 and "Choices cut" not in q.content
    assert "a right answer is worth 10, 7 after 1 hint, 4 after 2 hints, 2 after 3 hints" in q.content
    assert any(b.get("label") == "Report" for b in q.buttons)

    # 2. the ladder: what the image shows, then two wrong letters struck out, then no more
    hint_id = first_id(q, HINT)
    rungs = [private_reply(s, await s.press_button(q, hint_id, user="ben")).content for _ in range(4)]
    assert rungs[0].startswith("💡 Hint 1/3: 🔎") and "now worth 7 points" in rungs[0]
    struck = [re.search(r"❌ \*\*([A-E])\*\* is not the answer", r) for r in rungs[1:3]]
    assert all(struck) and len({m.group(1) for m in struck}) == 2 and right not in {m.group(1) for m in struck}
    assert "now worth 2 points" in rungs[2] and "all 3 hints" in rungs[3]
    assert all(stored[answer_index]["full_text"][:20] not in r for r in rungs), "no hint gives the answer"

    # 3. answers: ben right after every hint, cat right without one
    for name in ("ben", "cat"):
        click = await s.press_button(q, next(c for c in q.custom_ids if c == f"{ANSWER}{qid}:{answer_index}"), user=name)
        assert "Locked in" in private_reply(s, click).content

    # 4. reports: a reason privately; once per student; two students retire the item in this server
    ask = private_reply(s, await s.press_button(q, first_id(q, REPORT), user="cat"))
    assert "What is wrong or unfair" in ask.content and len(ask.custom_ids) == 5
    two_fit = next(c for c in ask.custom_ids if c.endswith(":two_fit"))
    thanks = private_reply(s, await s.press_button(ask, two_fit, user="cat")).content
    assert "More than one choice fits" in thanks and "one more student" in thanks
    again = private_reply(s, await s.press_button(ask, first_id(ask, REASON), user="cat")).content
    assert "already reported" in again and "Nothing was changed" in again
    dan_ask = private_reply(s, await s.press_button(q, first_id(q, REPORT), user="dan"))
    wrong = next(c for c in dan_ask.custom_ids if c.endswith(":wrong"))
    assert "not be asked again" in private_reply(s, await s.press_button(dan_ask, wrong, user="dan")).content
    rows = fair_bot.rows("SELECT user_id, reason, is_moderator, atlas_id FROM reports ORDER BY id")
    assert rows == [(uid(s, "cat"), "two_fit", 0, atlas_id), (uid(s, "dan"), "wrong", 0, atlas_id)]

    # 5. the reveal scores by the engine's rule: 2 after every hint, 10 without
    reveal = await s.wait_for(
        lambda: next((m for m in s.messages_in(thread_id) if REVEAL_HEAD.search(m.content)), None), REVEAL_S + 40
    )
    board = {int(u): int(p) for u, p, _, _ in BOARD_LINE.findall(reveal.content)}
    assert board == {uid(s, "ben"): 2, uid(s, "cat"): 10}
    # Report stays usable after the reveal: the other buttons are greyed out, it is not
    await s.wait_for(lambda: q.edits, 30, "the question's buttons greyed out")
    after = private_reply(s, await s.press_button(q, first_id(q, REPORT), user="eve"))
    assert "What is wrong or unfair" in after.content

    # 6. /mirage reports: refused privately to students, listed for moderators
    refused = private_reply(s, await s.run_slash("mirage reports", user="ben")).content
    assert "Only members who can manage messages" in refused
    as_moderator(s, True)
    try:
        listed = private_reply(s, await s.run_slash("mirage reports", user="mod")).content
    finally:
        as_moderator(s, False)
    assert f"`{atlas_id}`" in listed and "retired" in listed and "2 students" in listed
    assert "more than one choice fits ×1" in listed and "For education, not diagnosis." in listed

    # 7. a report on a question whose quiz was deleted: answered privately, nothing changed
    with sqlite3.connect(fair_bot.db_path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("DELETE FROM quizzes WHERE id = (SELECT quiz_id FROM quiz_questions WHERE id = ?)", (qid,))
    gone = private_reply(s, await s.press_button(after, first_id(after, REASON), user="eve")).content
    assert "no longer exists" in gone and "Nothing was changed" in gone
    assert fair_bot.rows("SELECT COUNT(*) FROM reports") == [(2,)]


async def test_pools_are_refused_or_asked_and_their_errors_are_clear(module_standin: StandIn, fair_bot: RestartableBot):
    s = module_standin
    before = fair_bot.rows("SELECT COUNT(*) FROM quizzes")
    # 1. refused before the engine is asked, privately, no thread
    for options, says in (
        ({"kind": "modality", "modality": "ct"}, "`kind:modality` with `modality:ct`"),
        ({"concept": "banana"}, "C and seven digits"),
        ({"topic": "lung", "concept": DEMO_FINDING}, "either `topic:` or `concept:`"),
    ):
        record = await s.run_slash("mirage quiz", options, user="fay")
        assert says in private_reply(s, record).content, options
        assert s.thread_for(record) is None
    # 2. the engine's 409: a concept no image has, in words, no thread
    unknown = await s.run_slash("mirage quiz", {"concept": "C9999999"}, user="fay")
    text = (await settled_reply(s, unknown)).content
    assert text.startswith("❌ There are not enough atlas images for this quiz") and "C9999999" in text, text
    assert s.thread_for(unknown) is None
    assert fair_bot.rows("SELECT COUNT(*) FROM quizzes") == before
    narrow = await s.run_slash("mirage quiz", {"topic": "angiography"}, user="fay")  # 4 images above the floor
    text = (await settled_reply(s, narrow)).content
    assert text.startswith("❌ There are not enough atlas images") and "'angiography' matches 4" in text, text
    assert s.thread_for(narrow) is None
    # 3. a topic quiz (bench/README.md: 11 demo images above the floor for "ring-shaped")
    record = await s.run_slash("mirage quiz", {"topic": "ring-shaped", "questions": 1}, user="gil")
    thread_id = int((await s.wait_for_thread(record, 60))["id"])
    assert "topic “ring-shaped”" in s.interaction_messages(record)[0].content
    await question_in(s, thread_id)
    assert fair_bot.rows("SELECT topic, concept FROM quizzes WHERE thread_id = ?", thread_id) == [("ring-shaped", None)]
    # 4. a concept quiz: the header names it, the quiz keeps it for its next questions
    record = await s.run_slash("mirage quiz", {"concept": DEMO_FINDING.lower(), "questions": 1}, user="fay")
    thread_id = int((await s.wait_for_thread(record, 60))["id"])
    assert f"concept `{DEMO_FINDING}`" in s.interaction_messages(record)[0].content
    await question_in(s, thread_id)
    assert fair_bot.rows("SELECT concept, topic FROM quizzes WHERE thread_id = ?", thread_id) == [(DEMO_FINDING, None)]
