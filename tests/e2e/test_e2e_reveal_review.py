"""End to end (issue 17 parts 3–4): a reveal that teaches and review that tests, with the real bot process
(SQLite in a temp dir) and the real tiny engine, driven through the Discord stand-in.

Two students play a two-question caption quiz: each reveal carries a contact sheet with one panel per
choice (read from the PNG itself), every caption below; "Why C?" after the quiz ended answers in the quiz
thread with sources among the choices; an @mention there is grounded in the revealed images; the recap
tallies the group; "Review missed cases" serves the cases one student missed, answered with letters (after a hint) and
rated once — a second click (also after a restart), a stranger's click and a click after forget-me each
answered privately, nothing changed.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator

import pytest
from PIL import Image

from bot.rules.review import shuffled_order
from tests.e2e.conftest import RestartableBot, restartable_bot
from tests.e2e.standin import InteractionRecord, MessageRecord, StandIn

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(900)]

REVEAL_S = 8.0
ANSWER = "mirage:quiz:a:"
REVIEW_LETTER = "mirage:rv:a:"
REVEAL_HEAD = re.compile(r"✅ \*\*Question (\d+)/(\d+): ([A-E])\*\*")
SOURCE_LINE = re.compile(r"\[(\d+)\] `(ROCO_\w+)`")
ANSWER_TIMEOUT_S = 120.0

teach_bot = restartable_bot(
    "teach_bot", MIRAGE_QUIZ_REVEAL_S=str(REVEAL_S), MIRAGE_REVIEW_FAST_S="600", MIRAGE_REVIEW_SLOW_S="3600"
)


@pytest.fixture(autouse=True)
def bot_stays_healthy(teach_bot: RestartableBot) -> Iterator[None]:
    yield
    teach_bot.assert_healthy()


async def settled(s: StandIn, record: InteractionRecord, n: int = 1) -> list[MessageRecord]:
    """The interaction's replies once there are `n` and none is still 'thinking…'."""
    return await s.wait_for(
        lambda: (m := s.interaction_messages(record)) and len(m) >= n and not any(x.loading for x in m) and m,
        60, f"{n} replies to {record.custom_id or record.command}",
    )  # fmt: skip


def bot_posts(s: StandIn, thread_id: int) -> list[MessageRecord]:
    return [m for m in s.messages_in(thread_id) if m.source == "channel"]


async def play_question(
    s: StandIn, bot: RestartableBot, thread_id: int, n: int, wrong: list[str], right: list[str]
) -> tuple[MessageRecord, int, int]:
    """Question n: `wrong` players pick a wrong letter, `right` the right one (read from the database);
    returns the question message, its id and the right index."""
    question = await s.wait_for(
        lambda: (q := [m for m in s.messages_in(thread_id) if any(c.startswith(ANSWER) for c in m.custom_ids)])
        and len(q) >= n and q[n - 1], 90, f"question {n}",
    )  # fmt: skip
    qid = int(next(c for c in question.custom_ids if c.startswith(ANSWER)).split(":")[3])
    (answer_index,) = bot.rows("SELECT answer_index FROM quiz_questions WHERE id = ?", qid)[0]
    for name in wrong:
        await s.press_button(question, f"{ANSWER}{qid}:{(answer_index + 1) % 4}", user=name)
    for name in right:
        await s.press_button(question, f"{ANSWER}{qid}:{answer_index}", user=name)
    return question, qid, answer_index


async def test_reveal_why_recap_and_review_of_missed_cases(
    module_standin: StandIn, teach_bot: RestartableBot
) -> None:
    s = module_standin
    start = await s.run_slash("mirage quiz", {"questions": 2}, user="ann")
    thread_id = int((await s.wait_for_thread(start, 60))["id"])

    # 1. question 1: ann wrong, ben right; the reveal carries the contact sheet, one panel per choice
    q1, qid1, right1 = await play_question(s, teach_bot, thread_id, 1, ["ann"], ["ben"])
    n_choices = sum(1 for c in q1.custom_ids if c.startswith(ANSWER))
    reveal = await s.wait_for(
        lambda: next((m for m in bot_posts(s, thread_id) if REVEAL_HEAD.search(m.content)), None),
        REVEAL_S + 60,
    )
    letter = "ABCDE"[right1]
    assert REVEAL_HEAD.search(reveal.content).group(3) == letter
    (sheet,) = [f for f in reveal.files if f.filename == "reveal-choices.png"]
    with Image.open(io.BytesIO(sheet.data)) as picture:
        assert picture.text["MIRAGE-panels"] == ",".join("ABCDE"[:n_choices])
        assert picture.text["MIRAGE-right"] == letter
        assert picture.width > 2 * 320
    choices = json.loads(teach_bot.rows("SELECT choices FROM quiz_questions WHERE id = ?", qid1)[0][0])

    def captions_below() -> str | None:
        after = bot_posts(s, thread_id)
        below = after[after.index(reveal) + 1 :]
        last = next((i for i, m in enumerate(below) if "For education, not diagnosis." in m.content), None)
        return "\n".join(m.content for m in below[: last + 1]) if last is not None else None

    captions = await s.wait_for(captions_below, 30, "the captions under the contact sheet")
    for i, choice in enumerate(choices):
        assert f"**{'ABCDE'[i]}** · {choice['full_text'][:200]}" in captions, choice
    assert f"✅ **{letter}**" in captions and "For education, not diagnosis." in captions
    why_id = f"mirage:quiz:why:{qid1}"
    assert any(b.get("custom_id") == why_id and b["label"] == f"Why {letter}?" for b in reveal.buttons)

    # 2. question 2 (ann wrong again, ben right), the end, and the group recap with its button
    _, qid2, _ = await play_question(s, teach_bot, thread_id, 2, ["ann"], ["ben"])
    recap = await s.wait_for(
        lambda: next((m for m in bot_posts(s, thread_id) if "Group recap" in m.content), None), REVEAL_S + 60
    )
    wrong1 = "ABCDE"[(right1 + 1) % 4]
    assert f"Q1: 1/2 right (50%) · most-picked wrong: **{wrong1}** (1)" in recap.content
    assert "Q2: 1/2 right (50%)" in recap.content
    missed_id = next(c for c in recap.custom_ids if c.startswith("mirage:quiz:missed:"))

    # 3. "Why C?" after the quiz ended: a grounded answer in the quiz thread, its sources among the choices
    before = len(bot_posts(s, thread_id))
    why = await s.press_button(reveal, why_id, user="ben")
    assert why.acked and why.ack_latency < 3.0
    answer = await s.wait_for(
        lambda: next((m for m in bot_posts(s, thread_id)[before:] if "**Sources:**" in m.text), None),
        ANSWER_TIMEOUT_S, "the Why answer",
    )  # fmt: skip
    cited = {atlas_id for _, atlas_id in SOURCE_LINE.findall(answer.text.replace("\\", ""))}
    assert cited and cited <= {c["id"] for c in choices}, (cited, choices)
    assert "For education, not diagnosis." in answer.text
    why_turn = f"What tells the image of {letter} apart from the others?%"
    await s.wait_for(  # remembered as the thread's turn, for the follow-ups after it
        lambda: teach_bot.rows("SELECT 1 FROM turns WHERE thread_id = ? AND question LIKE ?", thread_id, why_turn),
        30, "the Why turn in the database",
    )  # fmt: skip

    # 4. the quiz thread is an answer thread on the revealed images: an @mention is answered there
    before = len(bot_posts(s, thread_id))
    await s.post_message(thread_id, f"<@{s.bot_user_id}> which of these shows contrast?", user="ben")
    mention = await s.wait_for(
        lambda: next((m for m in bot_posts(s, thread_id)[before:] if "**Sources:**" in m.text), None),
        ANSWER_TIMEOUT_S, "the @mention answer",
    )  # fmt: skip
    revealed = {c["id"] for (js,) in teach_bot.rows("SELECT choices FROM quiz_questions WHERE quiz_id = "
                "(SELECT quiz_id FROM quiz_questions WHERE id = ?)", qid1) for c in json.loads(js)}  # fmt: skip
    assert {a for _, a in SOURCE_LINE.findall(mention.text.replace("\\", ""))} <= revealed

    # 5. review missed cases: ben missed none; ann gets Q1's case as it was asked, reshuffled, with letters
    nothing = await s.press_button(recap, missed_id, user="ben")
    assert "missed no case" in (await settled(s, nothing))[-1].content
    missed = await s.press_button(recap, missed_id, user="ann")
    (front,) = await settled(s, missed)
    assert (
        front.ephemeral and "missed cases" in front.content and front.files[0].filename == "case-review.png"
    )
    letters = [c for c in front.custom_ids if c.startswith(REVIEW_LETTER)]
    assert [b["label"] for b in front.buttons] == [*"ABCDE"[:n_choices], "Hint"]
    card_id, version = (int(x) for x in letters[0].split(":")[3:5])
    atlas_id, user = teach_bot.rows("SELECT atlas_id, user_id FROM review_cards WHERE id = ?", card_id)[0]
    order = shuffled_order(n_choices, card_id, version)
    for position, index in enumerate(order):  # every choice, in the card's own order
        assert f"**{'ABCDE'[position]}** · {choices[index]['full_text'][:80]}" in front.content
    right_pos = order.index(right1)

    # 6. a stranger's click changes nothing; ann's right answer after a hint rates the card Hard, once
    stranger = await s.press_button(front, letters[right_pos], user="ben")
    assert "not one of yours" in (await settled(s, stranger))[-1].content
    logs = teach_bot.rows("SELECT COUNT(*) FROM review_log WHERE card_id = ?", card_id)[0][0]
    # a hint first: on the card's own message, whose letters now answer after it (right → Hard)
    hint = await s.press_button(
        front, next(c for c in front.custom_ids if c.startswith("mirage:rv:h:")), user="ann"
    )
    assert hint.ack_type == 7 and "💡 Hint 1/" in front.content
    hinted = [c for c in front.custom_ids if c.startswith(REVIEW_LETTER)]
    assert all(f":{version}:" in c and "h1:" in c for c in hinted)
    answered = await s.press_button(front, hinted[right_pos], user="ann")
    verdict, second_front = await settled(s, answered, 2)
    assert verdict.ephemeral and f"✅ **{'ABCDE'[right_pos]}** is right." in verdict.content
    assert "Rated **Hard**" in verdict.content and "For education, not diagnosis." in verdict.content
    assert teach_bot.rows("SELECT COUNT(*) FROM review_log WHERE card_id = ?", card_id)[0][0] == logs + 1
    assert REVIEW_LETTER in "".join(second_front.custom_ids)  # Q2's case comes next

    # 7. the rating changes once: Good, then a second change is refused
    good = next(c for c in verdict.custom_ids if c.endswith(":3"))
    changed = await s.press_button(verdict, good, user="ann")
    assert "Changed to **Good**" in (await settled(s, changed))[-1].content
    easy = next(c for c in verdict.custom_ids if c.endswith(":4"))
    again = await s.press_button(verdict, easy, user="ann")
    assert "already rated" in (await settled(s, again))[-1].content
    assert teach_bot.rows(
        "SELECT rating FROM review_log WHERE card_id = ? ORDER BY id DESC LIMIT 1", card_id
    ) == [(3,)]

    # 8. the old front clicked again, before and after a restart: already rated, nothing changed
    twice = await s.press_button(front, hinted[right_pos], user="ann")
    assert "already rated" in (await settled(s, twice))[-1].content
    await teach_bot.restart()
    thrice = await s.press_button(front, hinted[0], user="ann")
    assert "already rated" in (await settled(s, thrice))[-1].content
    assert teach_bot.rows("SELECT COUNT(*) FROM review_log WHERE card_id = ?", card_id)[0][0] == logs + 1

    # 9. forget-me, then a click on the second card's front: removed, nothing re-created
    ask = await s.run_slash("mirage forget-me", user="ann")
    prompt = (await settled(s, ask))[-1]
    await s.press_button(prompt, prompt.custom_ids[0], user="ann")
    await s.wait_for(lambda: not teach_bot.rows("SELECT 1 FROM review_cards WHERE user_id = ?", user), 30)
    late = await s.press_button(
        second_front, next(c for c in second_front.custom_ids if c.startswith(REVIEW_LETTER)), user="ann"
    )
    assert "card was removed" in (await settled(s, late))[-1].content
    assert teach_bot.rows("SELECT COUNT(*) FROM review_cards WHERE user_id = ?", user) == [(0,)]
    assert teach_bot.rows("SELECT COUNT(*) FROM review_log WHERE user_id = ?", user) == [(0,)]
    assert atlas_id  # the card was a real atlas item


async def test_review_takes_a_modality_and_progress_shows_fsrs_recall(
    module_standin: StandIn, teach_bot: RestartableBot
) -> None:
    s = module_standin
    record = await s.run_slash("mirage review", {"modality": "ct"}, user="ben")
    reply = (await settled(s, record))[-1]
    assert reply.ephemeral and ("· ct" in reply.content or "Nothing is due for review · ct" in reply.content)
    progress = await s.run_slash("mirage progress", user="ben")
    text = (await settled(s, progress))[-1].content
    assert "Recall FSRS predicts now, by modality" in text and re.search(r"• \w+: \d+% over \d+ card", text)
