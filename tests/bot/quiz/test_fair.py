"""Fair questions, pure parts: the pools the bot refuses before asking, when reports retire an item, points
from the engine's rule, and the question message with every choice in full within Discord's limit."""

from __future__ import annotations

import pytest

from bot.render import quiz as render
from bot.render import quiz_fair as fair
from bot.render.lines import MESSAGE_MAX_CHARS
from bot.rules.quiz_fair import (
    QuizPool,
    ReportReason,
    normalised,
    points,
    points_ladder,
    pool_problem,
    retires,
)
from engine.contract import QUIZ_POINTS_BY_HINTS, QuizHint, quiz_points

LONG = (
    "Axial contrast-enhanced CT of the chest shows a large right-sided pneumothorax with partial collapse "
    "of the right lower lobe and a small pleural effusion, without mediastinal shift or rib fracture; the "
    "left lung is clear and the chest drain has not yet been placed at the time of this examination."
)


# --- pools ----------------------------------------------------------------------------------------
def test_a_modality_quiz_with_a_modality_filter_is_refused_naming_both():
    problem = pool_problem(QuizPool("modality", "ct"))
    assert problem is not None and "`kind:modality`" in problem and "`modality:ct`" in problem
    assert pool_problem(QuizPool("modality", None)) is None
    assert pool_problem(QuizPool("caption", "ct")) is None


@pytest.mark.parametrize(
    ("pool", "says"),
    [
        (QuizPool(topic="lung", concept="C0032326"), "either `topic:` or `concept:`"),
        (QuizPool(topic="   "), "needs some words"),
        (QuizPool(topic="x" * 201), "at most 200 characters"),
        (QuizPool(concept="pneumothorax"), "C and seven digits"),
        (QuizPool(concept="C12345"), "C and seven digits"),
    ],
)
def test_bad_pools_are_refused_in_words(pool: QuizPool, says: str):
    problem = pool_problem(pool)
    assert problem is not None and says in problem


def test_a_pool_is_sent_as_the_engine_takes_it():
    assert pool_problem(QuizPool(concept=" c0032326 ")) is None
    assert normalised(QuizPool(topic="  pneumothorax ", concept=None)).topic == "pneumothorax"
    assert normalised(QuizPool(concept=" c0032326 ")).concept == "C0032326"


# --- reports ------------------------------------------------------------------------------------
def test_one_moderator_or_two_students_retire_an_item():
    assert not retires(0, 0) and not retires(0, 1)
    assert retires(0, 2) and retires(1, 0) and retires(1, 1)


def test_every_reason_has_a_button_label():
    assert all(reason.label for reason in ReportReason)
    assert len({reason.label for reason in ReportReason}) == len(ReportReason)


# --- points -------------------------------------------------------------------------------------
def test_points_are_the_engines_rule_and_hints_always_cost():
    ladder = points_ladder([], 3)
    assert ladder == [quiz_points(True, n, 3) for n in range(4)] == list(QUIZ_POINTS_BY_HINTS)
    assert points_ladder([10, 6, 1], 2) == [10, 6, 1], "the engine's list for its question wins"
    assert points_ladder([], 2) == [10, 7, 2]  # a 3-choice question: two rungs, the last entry after both
    assert [points(True, n, ladder) for n in range(6)] == [10, 7, 4, 2, 2, 2]
    assert points(False, 0, ladder) == points(False, 3, ladder) == 0
    # every hint taken still beats a wrong answer and is worth clearly less than no hint
    assert 0 < ladder[-1] <= ladder[0] / 4
    # guessing among the two choices left after every hint stays below an unhinted right answer
    assert ladder[-1] / 2 < ladder[0]


def test_the_cost_line_states_what_a_right_answer_is_worth_after_each_hint():
    assert fair.cost_line([10, 7, 4, 2]) == (
        "💡 Hints cost points: a right answer is worth 10, 7 after 1 hint, 4 after 2 hints, 2 after 3 hints."
    )
    assert fair.cost_line([10]) == "💡 No hints on this question."


# --- the question message ---------------------------------------------------------------------------
def _question(choices: list[str], ladder: list[int] | None = None) -> str:
    card = render.QuestionCard(1, 5, "Which caption belongs to this image?", choices, 45, False, ladder or [10, 7, 4, 2])
    return render.question_text(card)


def test_every_choice_is_listed_whole_with_its_letter_and_the_cost():
    choices = [LONG, "Sagittal T2 MRI of the knee.", LONG.replace("right", "left"), "Ultrasound of the liver."]
    text = _question(choices)
    for letter, choice in zip("ABCD", choices, strict=True):
        assert f"**{letter}** · {choice}" in text, "the whole caption, not the 80-character button label"
    assert "a right answer is worth 10, 7 after 1 hint" in text and "Report" in text
    assert fair.CUT_NOTE not in text and len(text) <= MESSAGE_MAX_CHARS


def test_past_discords_limit_the_long_choices_are_cut_at_a_word_and_the_short_ones_stay_whole():
    huge = [LONG * 3, "Sagittal T2 MRI of the knee.", LONG * 3 + " Second.", LONG * 3 + " Third.", "PET-CT."]
    text = _question(huge)
    assert len(text) <= MESSAGE_MAX_CHARS
    assert "**B** · Sagittal T2 MRI of the knee." in text and "**E** · PET-CT." in text
    cut = [line for line in text.splitlines() if line.startswith(("**A**", "**C**", "**D**"))]
    assert len(cut) == 3 and all(line.endswith("…") for line in cut)
    assert all(not line.removesuffix("…").endswith(" ") for line in cut)
    lengths = [len(line) for line in cut]
    assert max(lengths) - min(lengths) < 40, "the long ones share the room evenly"
    assert fair.CUT_NOTE in text, "the student is told the reveal shows them in full"


def test_fair_shares_give_short_choices_all_they_need():
    assert fair.fair_shares([10, 500, 500], 410) == [10, 200, 200]
    assert fair.fair_shares([10, 20], 100) == [10, 20]


# --- hints --------------------------------------------------------------------------------------
def test_hint_rungs_show_what_the_image_shows_then_strike_letters_and_the_points_left():
    ladder = [10, 7, 4, 2]
    shows = fair.hint_text(1, 3, "The image is a CT of the chest.", QuizHint(text="x", kind="shows"), ladder)
    assert shows.startswith("💡 Hint 1/3: 🔎 The image is a CT of the chest.")
    assert "now worth 7 points" in shows
    strike = fair.hint_text(2, 3, "Not B.", QuizHint(text="Not B.", kind="strike", strike=1), ladder)
    assert "❌ **B** is not the answer" in strike and "now worth 4 points" in strike
    assert "now worth 2 points" in fair.hint_text(3, 3, "Not D.", None, ladder)


def test_report_acknowledgements_say_what_follows():
    thanks = fair.report_thanks(ReportReason.TWO_ANSWERS, retired=False, moderator=False)
    assert "More than one choice fits" in thanks and "one more student" in thanks
    assert "not be asked again" in fair.report_thanks(ReportReason.WRONG_ANSWER, retired=True, moderator=True)
    again = fair.report_again(ReportReason.BAD_IMAGE, retired=False)
    assert again.startswith("ℹ️ You already reported") and "Nothing was changed" in again
