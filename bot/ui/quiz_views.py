"""The buttons under each quiz and review message (pure builders the flows attach; no Discord calls)."""

from __future__ import annotations

import discord
from fsrs import Rating

from ..rules.quiz_fair import ReportReason
from .quiz_buttons import (
    AnswerButton,
    ForgetMeButton,
    HintButton,
    RerateButton,
    ReviewRateButton,
    ShowAnswerButton,
    StopButton,
)
from .quiz_report_buttons import ReportButton, ReportReasonButton


def question_view(
    quiz_id: int, question_id: int, n_choices: int, *, seed: int, disabled: bool = False
) -> discord.ui.View:
    """A–E, then Hint, Stop and Report."""
    view = discord.ui.View(timeout=None)
    for choice in range(n_choices):
        view.add_item(AnswerButton(question_id, choice))
    view.add_item(HintButton(question_id, seed))
    view.add_item(StopButton(quiz_id))
    view.add_item(ReportButton(question_id))
    if disabled:
        for item in view.children:
            if isinstance(item, discord.ui.DynamicItem) and not isinstance(item, ReportButton):
                item.item.disabled = True  # Report stays: unfairness often shows only at the reveal
    return view


def rerate_view(question_id: int) -> discord.ui.View:
    """Again / Hard / Good / Easy under a reveal."""
    view = discord.ui.View(timeout=None)
    for rating in Rating:
        view.add_item(RerateButton(question_id, rating))
    return view


def show_answer_view(card_id: int) -> discord.ui.View:
    """The front of a review card."""
    view = discord.ui.View(timeout=None)
    view.add_item(ShowAnswerButton(card_id))
    return view


def review_rate_view(card_id: int) -> discord.ui.View:
    """The back of a review card."""
    view = discord.ui.View(timeout=None)
    for rating in Rating:
        view.add_item(ReviewRateButton(card_id, rating))
    return view


def forget_view(user_id: int) -> discord.ui.View:
    """The forget-me confirmation."""
    view = discord.ui.View(timeout=None)
    view.add_item(ForgetMeButton(user_id))
    return view


def report_reasons_view(question_id: int) -> discord.ui.View:
    """The reasons a student may report a question for, one button each (on a private message)."""
    view = discord.ui.View(timeout=None)
    for reason in ReportReason:
        view.add_item(ReportReasonButton(question_id, reason))
    return view
