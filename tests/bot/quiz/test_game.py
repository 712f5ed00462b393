"""The quiz's rules on their own: lock-in, hints, when a question is revealed, points and FSRS ratings."""

from __future__ import annotations

import pytest
from fsrs import Rating

from bot.quiz.game import (
    HINT_COST,
    POINTS_RIGHT,
    POINTS_RIGHT_MIN,
    QuestionClosedError,
    QuestionPlay,
    letter,
    points_for,
    rating_for,
    scoreboard,
)


def test_a_later_click_replaces_the_answer_and_says_it_changed() -> None:
    play = QuestionPlay(answer_index=2, n_choices=4)
    first = play.lock_in(7, 1)
    assert first.previous is None and not first.changed
    again = play.lock_in(7, 1)
    assert not again.changed
    switched = play.lock_in(7, 2)
    assert switched.previous == 1 and switched.changed
    assert play.choices == {7: 2}


def test_many_clicks_count_once_per_player() -> None:
    play = QuestionPlay(answer_index=0, n_choices=4)
    for click in range(50):
        play.lock_in(click % 5, click % 4)
    outcomes = play.reveal()
    assert sorted(o.user_id for o in outcomes) == [0, 1, 2, 3, 4]


def test_clicks_after_the_reveal_are_refused() -> None:
    play = QuestionPlay(answer_index=0, n_choices=4)
    play.lock_in(1, 0)
    play.reveal()
    with pytest.raises(QuestionClosedError):
        play.lock_in(2, 0)
    with pytest.raises(QuestionClosedError):
        play.take_hint(2, 3)


def test_choice_out_of_range_is_refused_with_the_limit() -> None:
    play = QuestionPlay(answer_index=0, n_choices=3)
    with pytest.raises(ValueError, match="0–2"):
        play.lock_in(1, 3)
    with pytest.raises(ValueError, match="answer_index"):
        QuestionPlay(answer_index=4, n_choices=4)
    with pytest.raises(ValueError, match="n_choices"):
        QuestionPlay(answer_index=0, n_choices=6)


def test_hints_climb_the_ladder_and_stop_at_its_top() -> None:
    play = QuestionPlay(answer_index=0, n_choices=4)
    assert [play.take_hint(1, 3) for _ in range(4)] == [1, 2, 3, None]
    assert play.take_hint(2, 3) == 1, "each player has their own ladder"


def test_points_fall_with_hints_but_a_right_answer_always_scores() -> None:
    assert points_for(True, 0) == POINTS_RIGHT
    assert points_for(True, 1) == POINTS_RIGHT - HINT_COST
    assert points_for(True, 10) == POINTS_RIGHT_MIN
    assert points_for(False, 0) == 0 and points_for(False, 2) == 0


def test_ratings_follow_the_outcome() -> None:
    assert rating_for(False, 0) is Rating.Again
    assert rating_for(False, 2) is Rating.Again
    assert rating_for(True, 1) is Rating.Hard
    assert rating_for(True, 0) is Rating.Good


def test_reveal_scores_hints_and_wrong_answers() -> None:
    play = QuestionPlay(answer_index=1, n_choices=4)
    play.take_hint(10, 3)
    play.lock_in(10, 1)  # right with one hint
    play.lock_in(11, 1)  # right
    play.lock_in(12, 3)  # wrong
    play.take_hint(13, 3)  # took a hint, never answered: not a player of this question
    by_user = {o.user_id: o for o in play.reveal()}
    assert set(by_user) == {10, 11, 12}
    assert by_user[11].points == POINTS_RIGHT and by_user[11].rating is Rating.Good
    assert by_user[10].points == POINTS_RIGHT - HINT_COST and by_user[10].rating is Rating.Hard
    assert by_user[12].points == 0 and by_user[12].rating is Rating.Again and not by_user[12].correct


def test_first_group_question_waits_for_its_timer() -> None:
    play = QuestionPlay(answer_index=0, n_choices=4)
    play.lock_in(1, 0)
    assert not play.should_reveal({1}, solo=False, first=True)
    assert play.should_reveal({1}, solo=True, first=True), "solo reveals at the first answer"


def test_later_questions_reveal_when_everyone_who_joined_has_answered() -> None:
    play = QuestionPlay(answer_index=0, n_choices=4)
    joined = {1, 2, 3}
    assert not play.should_reveal(joined, solo=False, first=False), "nobody answered yet"
    play.lock_in(1, 0)
    play.lock_in(2, 3)
    assert not play.should_reveal(joined, solo=False, first=False)
    play.lock_in(3, 1)
    assert play.should_reveal(joined, solo=False, first=False)
    play.lock_in(4, 1)  # a newcomer joining late does not hold the others back
    assert play.should_reveal(joined, solo=False, first=False)


def test_scoreboard_sums_questions_most_points_first() -> None:
    q1 = QuestionPlay(answer_index=0, n_choices=4)
    q1.lock_in(1, 0)
    q1.lock_in(2, 1)
    q2 = QuestionPlay(answer_index=2, n_choices=4)
    q2.lock_in(1, 0)
    q2.take_hint(2, 3)
    q2.lock_in(2, 2)
    board = scoreboard(q1.reveal() + q2.reveal())
    assert [(s.user_id, s.points, s.right, s.answered) for s in board] == [
        (1, POINTS_RIGHT, 1, 2),
        (2, POINTS_RIGHT - HINT_COST, 1, 2),
    ]


def test_letters() -> None:
    assert [letter(i) for i in range(5)] == list("ABCDE")
    with pytest.raises(ValueError):
        letter(5)
