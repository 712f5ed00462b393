"""The quiz's rules on their own: lock-in, hints, and when a question is revealed."""

from __future__ import annotations

import pytest

from bot.rules.quiz import QuestionClosedError, QuestionPlay, letter


def test_a_later_click_replaces_the_answer_and_returns_the_one_it_replaced() -> None:
    play = QuestionPlay(n_choices=4)
    assert play.lock_in(7, 1) is None
    assert play.lock_in(7, 1) == 1
    assert play.lock_in(7, 2) == 1
    assert play.choices == {7: 2}


def test_many_clicks_count_once_per_player() -> None:
    play = QuestionPlay(n_choices=4)
    for click in range(50):
        play.lock_in(click % 5, click % 4)
    assert play.answered == {0, 1, 2, 3, 4}


def test_clicks_and_hints_after_the_reveal_are_refused() -> None:
    play = QuestionPlay(n_choices=4)
    play.lock_in(1, 0)
    play.close()
    with pytest.raises(QuestionClosedError):
        play.lock_in(2, 0)
    with pytest.raises(QuestionClosedError):
        play.next_hint(2, 3)
    assert not play.should_reveal({1}, solo=True, first=False), "a closed question is not revealed twice"


def test_choice_out_of_range_is_refused_with_the_limit() -> None:
    play = QuestionPlay(n_choices=3)
    with pytest.raises(ValueError, match="0–2"):
        play.lock_in(1, 3)
    with pytest.raises(ValueError, match="n_choices"):
        QuestionPlay(n_choices=6)


def test_hints_climb_the_ladder_per_player_and_stop_at_its_top() -> None:
    play = QuestionPlay(n_choices=4)
    seen = []
    while (level := play.next_hint(1, 3)) is not None:
        seen.append(level)
        play.took_hint(1, level)
    assert seen == [1, 2, 3]
    assert play.next_hint(2, 3) == 1, "each player has their own ladder"
    play.took_hint(1, 1)
    assert play.hints[1] == 3, "hints never go back down"


def test_first_group_question_waits_for_its_timer_but_solo_does_not() -> None:
    play = QuestionPlay(n_choices=4)
    play.lock_in(1, 0)
    assert not play.should_reveal({1}, solo=False, first=True)
    assert play.should_reveal({1}, solo=True, first=True)


def test_later_questions_reveal_when_everyone_who_joined_has_answered() -> None:
    play = QuestionPlay(n_choices=4)
    joined = {1, 2, 3}
    assert not play.should_reveal(joined, solo=False, first=False), "nobody answered yet"
    play.lock_in(1, 0)
    play.lock_in(2, 3)
    assert not play.should_reveal(joined, solo=False, first=False)
    play.lock_in(3, 1)
    assert play.should_reveal(joined, solo=False, first=False)
    play.lock_in(4, 1)  # a newcomer joining late does not hold the others back
    assert play.should_reveal(joined, solo=False, first=False)


def test_one_player_left_after_the_first_question_plays_solo() -> None:
    play = QuestionPlay(n_choices=4)
    play.lock_in(9, 2)
    assert play.should_reveal({9}, solo=False, first=False)


def test_letters() -> None:
    assert [letter(i) for i in range(5)] == list("ABCDE")
    with pytest.raises(ValueError):
        letter(5)
