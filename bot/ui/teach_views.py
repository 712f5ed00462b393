"""The buttons under a reveal, the recap, and a review card (pure builders the flows attach)."""

from __future__ import annotations

import discord
from fsrs import Rating

from ..requests import Review, ReviewAnswer, ReviewHint
from .quiz_buttons import RerateButton, ReviewRateButton
from .teach_buttons import ChangeRatingButton, MissedButton, ReviewHintButton, ReviewLetterButton, WhyButton


def reveal_view(question_id: int, right: str, *, why: bool) -> discord.ui.View:
    """Again / Hard / Good / Easy for one's own review, and "Why C?" (caption questions)."""
    view = discord.ui.View(timeout=None)
    for rating in Rating:
        view.add_item(RerateButton(question_id, rating))
    if why:
        view.add_item(WhyButton(question_id, right))
    return view


def recap_view(quiz_id: int) -> discord.ui.View:
    """Review missed cases."""
    view = discord.ui.View(timeout=None)
    view.add_item(MissedButton(quiz_id))
    return view


def review_front_view(
    card_id: int,
    version: int,
    n_choices: int,
    shown_at: int,
    scope: Review,
    *,
    hints: int = 0,
    rungs: int = 0,
) -> discord.ui.View:
    """A–E on a review card's front (answering after `hints` rungs), and Hint while rungs are left."""
    view = discord.ui.View(timeout=None)
    for position in range(n_choices):
        view.add_item(ReviewLetterButton(ReviewAnswer(card_id, version, position, shown_at, scope, hints)))
    if hints < rungs:
        view.add_item(ReviewHintButton(ReviewHint(card_id, version, shown_at, hints + 1, scope)))
    return view


def change_rating_view(card_id: int, version: int, given: Rating) -> discord.ui.View:
    """The three other ratings, to change the one the answer gave (once)."""
    view = discord.ui.View(timeout=None)
    for rating in Rating:
        if rating != given:
            view.add_item(ChangeRatingButton(card_id, version, rating))
    return view


def versioned_rate_view(card_id: int, version: int) -> discord.ui.View:
    """The back of a card without a question to ask (self-rated), rating it at most once."""
    view = discord.ui.View(timeout=None)
    for rating in Rating:
        view.add_item(ReviewRateButton(card_id, rating, version))
    return view
