"""End to end: group quizzes, review, scores and forget-me, with the real bot process (SQLite in a temp
dir) and the real tiny engine, driven through the Discord stand-in by simulated players.

Each test reads what players would see (the thread's messages, their private replies) and, where a
promise is about data (no click counted twice, forget-me deletes), the bot's database file itself.
"""

from __future__ import annotations

import asyncio
import copy
import random
import re
import sqlite3
from collections.abc import Iterator

import pytest

from engine.contract import MODALITIES
from tests.e2e.conftest import RestartableBot, restartable_bot
from tests.e2e.standin import InteractionRecord, MessageRecord, StandIn

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(900),
]

REVEAL_S = 20.0  # the bot's MIRAGE_QUIZ_REVEAL_S here: long enough for a bot restart within it
ACK_DEADLINE_S = 3.0
PLAYERS = 20
ANSWER = "mirage:quiz:a:"
REVEAL_HEAD = re.compile(r"✅ \*\*Question (\d+)/(\d+): ([A-E])\*\*")
MENTION = re.compile(r"<@(\d+)>")
BOARD_LINE = re.compile(r"<@(\d+)> · (\d+) pts · (\d+)/(\d+) right")

quiz_bot = restartable_bot("quiz_bot", MIRAGE_QUIZ_REVEAL_S=str(REVEAL_S))


@pytest.fixture(autouse=True)
def bot_stays_healthy(quiz_bot: RestartableBot) -> Iterator[None]:
    """After each test: the bot is alive and asked the stand-in for nothing it lacks."""
    yield
    quiz_bot.assert_healthy()


# --- helpers -------------------------------------------------------------------------------
def private_reply(standin: StandIn, record: InteractionRecord) -> MessageRecord:
    """The one ephemeral message a click or command got."""
    replies = standin.interaction_messages(record)
    assert replies, f"{record.custom_id or record.command} got no reply"
    assert all(r.ephemeral for r in replies), [r.content for r in replies]
    return replies[-1]


async def start_quiz(standin: StandIn, user: str, **options: object) -> tuple[InteractionRecord, int]:
    record = await standin.run_slash("mirage quiz", dict(options), user=user)
    assert record.acked and record.ack_latency < ACK_DEADLINE_S
    thread = await standin.wait_for_thread(record, 60)
    return record, int(thread["id"])


def questions_in(standin: StandIn, thread_id: int) -> list[MessageRecord]:
    return [m for m in standin.messages_in(thread_id) if any(c.startswith(ANSWER) for c in m.custom_ids)]


def reveals_in(standin: StandIn, thread_id: int) -> list[MessageRecord]:
    return [m for m in standin.messages_in(thread_id) if REVEAL_HEAD.search(m.content)]


async def wait_question(standin: StandIn, thread_id: int, n: int) -> MessageRecord:
    """The n-th question message (1-based) of a thread."""
    msgs = await standin.wait_for(
        lambda: (q := questions_in(standin, thread_id)) and len(q) >= n and q, 90, f"question {n}"
    )
    return msgs[n - 1]


async def wait_reveal(standin: StandIn, thread_id: int, n: int, timeout: float = 60) -> MessageRecord:
    msgs = await standin.wait_for(
        lambda: (r := reveals_in(standin, thread_id)) and len(r) >= n and r, timeout, f"reveal {n}"
    )
    return msgs[n - 1]


def answer_id(question: MessageRecord, letter: str) -> str:
    index = "ABCDE".index(letter)
    return next(c for c in question.custom_ids if c.startswith(ANSWER) and c.endswith(f":{index}"))


def user_id(standin: StandIn, name: str) -> int:
    return int(standin.world.user(name)["id"])


def right_letter(reveal: MessageRecord) -> str:
    match = REVEAL_HEAD.search(reveal.content)
    assert match
    return match.group(3)


def right_players(reveal: MessageRecord) -> set[int]:
    line = next((ln for ln in reveal.content.splitlines() if ln.startswith("Right (")), "")
    return {int(u) for u in MENTION.findall(line)}


def board(message: MessageRecord) -> dict[int, tuple[int, int, int]]:
    return {int(u): (int(p), int(c), int(n)) for u, p, c, n in BOARD_LINE.findall(message.content)}


async def click_all(
    standin: StandIn, question: MessageRecord, picks: dict[str, list[str]], window_s: float = 2.0
) -> dict[str, list[InteractionRecord]]:
    """Every player clicks their letters in order, the players' first clicks spread over `window_s`."""

    async def player(name: str, letters: list[str]) -> list[InteractionRecord]:
        await asyncio.sleep(random.uniform(0, window_s))
        records = []
        for letter in letters:
            records.append(await standin.press_button(question, answer_id(question, letter), user=name))
        return records

    results = await asyncio.gather(*(player(n, ls) for n, ls in picks.items()))
    return dict(zip(picks, results, strict=True))


# --- the tests -----------------------------------------------------------------------------
async def test_twenty_players_every_click_acknowledged_once_and_scored(
    module_standin: StandIn, quiz_bot: RestartableBot
) -> None:
    s = module_standin
    rng = random.Random(11)
    names = [f"player{i:02d}" for i in range(PLAYERS)]
    start, thread_id = await start_quiz(s, "host", questions=2)
    header = s.interaction_messages(start)[0]
    assert "Case quiz" in header.content and "2 questions" in header.content

    # question 1: the image, named case-1.png, with no caption; A–D, Hint, Stop
    q1 = await wait_question(s, thread_id, 1)
    (image,) = q1.files
    assert image.filename == "case-1.png" and not image.description
    assert min(image.open_image().size) > 0
    assert [b["label"] for b in q1.buttons][:4] == ["A", "B", "C", "D"]
    assert any(c.startswith("mirage:quiz:h:") for c in q1.custom_ids)
    assert any(c.startswith("mirage:quiz:stop:") for c in q1.custom_ids)
    stale_q1 = copy.deepcopy(q1)  # a player's screen that has not refreshed since

    # one player takes a hint first (private, costs points)
    hint_id = next(c for c in q1.custom_ids if c.startswith("mirage:quiz:h:"))
    hint = await s.press_button(q1, hint_id, user=names[0])
    assert "Hint 1/" in private_reply(s, hint).content

    # 20 players within 2 s; every fourth changes their mind once
    picks = {n: [rng.choice("ABCD")] for n in names}
    for n in names[::4]:
        picks[n].append(rng.choice("ABCD"))
    clicks = await click_all(s, q1, picks)
    for name, records in clicks.items():
        for record, letter in zip(records, picks[name], strict=True):
            assert record.acked and record.ack_latency < ACK_DEADLINE_S, (name, record.ack_latency)
            reply = private_reply(s, record)
            assert f"**{letter}**" in reply.content and ("Locked in" in reply.content or "Changed" in reply.content)
    assert q1.edits == [], "a click must never edit the shared question message before the reveal"

    # the first question ends on its timer: right answer, caption, source, who got it right, scoreboard
    r1 = await wait_reveal(s, thread_id, 1, REVEAL_S + 30)
    right = right_letter(r1)
    final = {user_id(s, n): ls[-1] for n, ls in picks.items()}
    expected_right = {u for u, letter in final.items() if letter == right}
    assert right_players(r1) == expected_right
    assert "Source: `ROCO_" in r1.content and "For education, not diagnosis." in r1.content
    points = {u: (10 if u in expected_right else 0) for u in final}
    hinted = user_id(s, names[0])
    if hinted in expected_right:
        points[hinted] = 7
    shown = board(r1)
    assert len(shown) == min(10, PLAYERS)
    for uid, (pts, correct, answered) in shown.items():
        assert (pts, answered) == (points[uid], 1) and correct == int(uid in expected_right)
    # the database holds one answer per player, the last one clicked, and one score each
    (qid,) = {int(c.split(":")[3]) for c in q1.custom_ids if c.startswith(ANSWER)}
    stored = dict(quiz_bot.rows("SELECT user_id, choice FROM player_answers WHERE question_id = ?", qid))
    assert stored == {u: "ABCD".index(letter) for u, letter in final.items()}
    scored = quiz_bot.rows("SELECT user_id, points FROM score_events WHERE question_id = ?", qid)
    assert sorted(scored) == sorted(points.items())

    # a stale click on the closed question
    late = await s.press_button(stale_q1, answer_id(stale_q1, "A"), user=names[1])
    assert "closed" in private_reply(s, late).content

    # question 2: everyone who joined answers → revealed before its timer
    q2 = await wait_question(s, thread_id, 2)
    assert q2.files[0].filename == "case-2.png"
    picks2 = {n: [rng.choice("ABCD")] for n in names}
    await click_all(s, q2, picks2)
    r2 = await wait_reveal(s, thread_id, 2, REVEAL_S + 30)
    assert r2.created_at - q2.created_at < REVEAL_S - 1, "all joined players answered: no wait for the timer"
    right2 = right_letter(r2)
    for n in names:
        if picks2[n][0] == right2:
            points[user_id(s, n)] += 10
    end = await s.wait_for_messages(thread_id, lambda ms: any("Quiz over" in m.content for m in ms), 60)
    final_board = board(next(m for m in end if "Quiz over" in m.content))
    assert len(final_board) == 10 and all(final_board[u][0] == points[u] for u in final_board)
    left_out = [p for u, p in points.items() if u not in final_board]
    assert min(p for p, _, _ in final_board.values()) >= max(left_out), "the top 10 are shown"

    # the server's leaderboard adds the same points up
    scores = await s.run_slash("mirage scores", user=names[3])
    (reply,) = s.interaction_messages(scores)
    assert "This week" in reply.content and "All time" in reply.content
    for uid, (pts, _, _) in board(reply).items():
        assert pts == points[uid]


async def test_bad_input_is_answered_clearly(module_standin: StandIn, quiz_bot: RestartableBot) -> None:
    s = module_standin
    # a modality with too few atlas images: the engine's message says what is available, no thread opens
    record = await s.run_slash("mirage quiz", {"modality": "other"}, user="dora")
    await s.wait_for(lambda: "❌" in s.interaction_messages(record)[0].content, 60, "the refusal")
    text = s.interaction_messages(record)[0].content
    assert "other" in text and "usable items per modality" in text, text
    assert s.thread_for(record) is None

    # a second quiz in a thread where one runs: refused privately, with a link to it
    _, thread_id = await start_quiz(s, "dora", questions=1, kind="modality")
    question = await wait_question(s, thread_id, 1)
    assert "Which imaging modality made this image?" in question.content
    choices = [ln.split(" · ", 1)[1].lower() for ln in question.content.splitlines() if re.match(r"\*\*[A-E]\*\* · ", ln)]
    assert len(set(choices)) == 4 and all(c.split()[0] in MODALITIES for c in choices), choices
    again = await s.run_slash("mirage quiz", {}, user="eve", channel_id=thread_id)
    reply = private_reply(s, again)
    assert "already running" in reply.content and str(thread_id) in reply.content

    # only the starter (or a moderator) can stop it
    q = questions_in(s, thread_id)[0]
    stop_id = next(c for c in q.custom_ids if c.startswith("mirage:quiz:stop:"))
    refused = await s.press_button(q, stop_id, user="eve")
    assert "Only the person who started" in private_reply(s, refused).content
    stopped = await s.press_button(q, stop_id, user="dora")
    assert "Stopping" in private_reply(s, stopped).content
    msgs = await s.wait_for_messages(thread_id, lambda ms: any("Quiz stopped by" in m.content for m in ms), 30)
    assert any(f"<@{user_id(s, 'dora')}>" in m.content for m in msgs if "Quiz stopped" in m.content)
    assert reveals_in(s, thread_id) == [], "a stopped question is not revealed"


async def test_restart_mid_quiz_keeps_answers_and_timers(module_standin: StandIn, quiz_bot: RestartableBot) -> None:
    s = module_standin
    _, thread_id = await start_quiz(s, "rhea", questions=2)
    q1 = await wait_question(s, thread_id, 1)
    await click_all(s, q1, {"rhea": ["A"], "sol": ["B"]}, window_s=0.2)

    # crash, and stay down past the timer: at start the question is revealed at once, with a note
    await quiz_bot.restart(before_start=REVEAL_S)
    r1 = await wait_reveal(s, thread_id, 1, 60)
    assert "restarting" in r1.content
    assert {user_id(s, "rhea"), user_id(s, "sol")} == set(board(r1))

    # question 2 follows; crash again with its timer still running: the timer resumes, clicks still work
    q2 = await wait_question(s, thread_id, 2)
    await click_all(s, q2, {"rhea": ["C"]}, window_s=0.1)
    await quiz_bot.restart()
    late = await s.press_button(q2, answer_id(q2, "D"), user="sol")
    assert late.acked and "Locked in" in private_reply(s, late).content
    r2 = await wait_reveal(s, thread_id, 2, REVEAL_S + 60)
    assert "restarting" not in r2.content
    assert board(r2)[user_id(s, "sol")][2] == 2, "the click after the restart counted"


async def test_review_rerate_progress_and_forget_me(module_standin: StandIn, quiz_bot: RestartableBot) -> None:
    s = module_standin
    _, thread_id = await start_quiz(s, "uma", questions=1)
    q = await wait_question(s, thread_id, 1)
    await click_all(s, q, {"uma": ["A"], "vic": ["B"]}, window_s=0.2)
    reveal = await wait_reveal(s, thread_id, 1, REVEAL_S + 30)
    uma = user_id(s, "uma")

    # re-rate from the reveal: private, and the card's last rating becomes Easy
    easy = next(c for c in reveal.custom_ids if c.startswith("mirage:quiz:rate:") and c.endswith(":4"))
    rerate = await s.press_button(reveal, easy, user="uma")
    assert "Rated **Easy**" in private_reply(s, rerate).content
    assert quiz_bot.rows(
        "SELECT rating FROM review_log WHERE user_id = ? ORDER BY id DESC LIMIT 1", uma
    ) == [(4,)]
    stranger = await s.press_button(reveal, easy, user="walt")
    assert "didn't answer" in private_reply(s, stranger).content

    # a day later (the card's due date moved back): /mirage review serves it, privately
    with sqlite3.connect(quiz_bot.db_path) as conn:
        conn.execute("UPDATE review_cards SET due = '2000-01-01 00:00:00.000000' WHERE user_id = ?", (uma,))
    record = await s.run_slash("mirage review", user="uma")
    front = await s.wait_for(
        lambda: (m := s.interaction_messages(record)) and not m[-1].loading and m[-1], 60, "the review card"
    )
    assert front.ephemeral and "Review" in front.content and front.files[0].filename == "case-review.png"
    # the front is the question as it was asked, answered with a letter; the answer rates the card
    # (issue 17 part 4: this replaced 'Show answer' and a self-rating; tests/e2e/test_e2e_reveal_review.py)
    letters = [c for c in front.custom_ids if c.startswith("mirage:rv:a:")]
    labels = [b["label"] for b in front.buttons]
    assert len(letters) >= 2 and labels[: len(letters)] == list("ABCDE"[: len(letters)])  # then Hint
    rated = await s.press_button(front, letters[0], user="uma")
    verdict, after = await s.wait_for(
        lambda: (m := s.interaction_messages(rated)) and len(m) >= 2 and not m[-1].loading and m, 60
    )
    assert verdict.ephemeral and "ROCO_" in verdict.content  # the right caption's source
    assert "Rated **" in verdict.content and "Nothing is due" in after.content

    progress = await s.run_slash("mirage progress", user="uma")
    text = private_reply(s, progress).content
    assert "Cards due now: **0**" in text and "Streak: **1** day" in text and "Accuracy by modality" in text

    # forget-me: confirm, and the rows are really gone
    assert quiz_bot.rows("SELECT COUNT(*) FROM review_cards WHERE user_id = ?", uma) == [(1,)]
    ask = await s.run_slash("mirage forget-me", user="uma")
    prompt = private_reply(s, ask)
    assert "cannot be undone" in prompt.content
    not_mine = await s.press_button(prompt, prompt.custom_ids[0], user="vic")
    assert "Only the person who asked" in private_reply(s, not_mine).content
    confirm = await s.press_button(prompt, prompt.custom_ids[0], user="uma")
    assert confirm.ack_type == 7 and "Deleted" in prompt.content
    for table in ("player_answers", "score_events", "review_cards", "review_log"):
        assert quiz_bot.rows(f"SELECT COUNT(*) FROM {table} WHERE user_id = ?", uma) == [(0,)], table
    assert quiz_bot.rows("SELECT COUNT(*) FROM review_cards WHERE user_id = ?", user_id(s, "vic")) == [(1,)]
