"""The quiz's buttons: they only say what was clicked and hand it to the flows found on the client.

Every button is a `DynamicItem` whose state lives in its custom id (`mirage:quiz:…`, `mirage:review:…`,
`mirage:forget:…`), so a click still works after the bot restarts.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from fsrs import Rating

from bot.access import access_denied
from bot.errors import report_unexpected
from bot.store.errors import DatabaseUnavailable

from .game import LETTERS

if TYPE_CHECKING:
    from .flow import QuizFlow
    from .review import ReviewFlow

RATING_LABELS = {Rating.Again: "Again", Rating.Hard: "Hard", Rating.Good: "Good", Rating.Easy: "Easy"}
RATING_STYLES = {
    Rating.Again: discord.ButtonStyle.danger,
    Rating.Hard: discord.ButtonStyle.secondary,
    Rating.Good: discord.ButtonStyle.success,
    Rating.Easy: discord.ButtonStyle.primary,
}


DB_UNAVAILABLE = "The quiz database is unavailable right now; please try again in a moment."


async def say_privately(interaction: discord.Interaction[Any], text: str) -> None:
    """A private line, as the first response or after one."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


def quiz_flow(interaction: discord.Interaction[Any]) -> QuizFlow:
    """The quiz flow of the client that received the click (set up in `setup_hook`)."""
    return interaction.client.quiz.game  # type: ignore[attr-defined, no-any-return]


def review_flow(interaction: discord.Interaction[Any]) -> ReviewFlow:
    """The review flow of the client that received the click."""
    return interaction.client.quiz.review  # type: ignore[attr-defined, no-any-return]


class _Base(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"mirage:quiz:_base"):
    """The server's channel and role limits hold for every quiz button; errors end at the usual edge."""

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:  # noqa: D102
        denied = access_denied(interaction, interaction.client.settings)  # type: ignore[attr-defined]
        if denied is not None:
            await interaction.response.send_message(denied, ephemeral=True)
            return False
        return True

    async def callback(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        try:
            await self.run(interaction)
        except DatabaseUnavailable:
            await say_privately(interaction, DB_UNAVAILABLE)
        except Exception as error:
            await report_unexpected(interaction, error)

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        raise NotImplementedError


class AnswerButton(_Base, template=r"mirage:quiz:a:(?P<question>[0-9]{1,18}):(?P<choice>[0-4])"):
    """A, B, C, D or E on a question."""

    def __init__(self, question_id: int, choice: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=LETTERS[choice],
                style=discord.ButtonStyle.primary,
                custom_id=f"mirage:quiz:a:{question_id}:{choice}",
            ),
            row=0,
        )
        self.question_id, self.choice = question_id, choice

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> AnswerButton:  # noqa: D102
        return cls(int(match["question"]), int(match["choice"]))

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await quiz_flow(interaction).answer(interaction, self.question_id, self.choice)


class HintButton(_Base, template=r"mirage:quiz:h:(?P<question>[0-9]{1,18}):(?P<seed>[0-9]{1,10})"):
    """The next rung of the hint ladder, privately. After a restart the ladder comes from the question's
    row; the seed lets the engine rebuild it for questions asked before rows kept it (revision 0003)."""

    def __init__(self, question_id: int, seed: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Hint", emoji="💡", style=discord.ButtonStyle.secondary,
                custom_id=f"mirage:quiz:h:{question_id}:{seed}",
            ),
            row=1,
        )
        self.question_id, self.seed = question_id, seed

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> HintButton:  # noqa: D102
        return cls(int(match["question"]), int(match["seed"]))

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await quiz_flow(interaction).hint(interaction, self.question_id, self.seed)


class StopButton(_Base, template=r"mirage:quiz:stop:(?P<quiz>[0-9]{1,18})"):
    """End the quiz (the starter, or someone who may manage messages)."""

    def __init__(self, quiz_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Stop quiz", emoji="🛑", style=discord.ButtonStyle.danger,
                custom_id=f"mirage:quiz:stop:{quiz_id}",
            ),
            row=1,
        )
        self.quiz_id = quiz_id

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> StopButton:  # noqa: D102
        return cls(int(match["quiz"]))

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await quiz_flow(interaction).stop(interaction, self.quiz_id)


class RerateButton(_Base, template=r"mirage:quiz:rate:(?P<question>[0-9]{1,18}):(?P<rating>[1-4])"):
    """On a reveal: rate this case for one's own review (replaces the rating the outcome gave)."""

    def __init__(self, question_id: int, rating: Rating) -> None:
        super().__init__(
            discord.ui.Button(
                label=RATING_LABELS[rating], style=RATING_STYLES[rating],
                custom_id=f"mirage:quiz:rate:{question_id}:{int(rating)}",
            ),
            row=0,
        )
        self.question_id, self.rating = question_id, rating

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> RerateButton:  # noqa: D102
        return cls(int(match["question"]), Rating(int(match["rating"])))

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await review_flow(interaction).rerate_question(interaction, self.question_id, self.rating)


class ShowAnswerButton(_Base, template=r"mirage:review:show:(?P<card>[0-9]{1,18})"):
    """In a review: turn the card over."""

    def __init__(self, card_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Show answer", emoji="👁️", style=discord.ButtonStyle.primary,
                custom_id=f"mirage:review:show:{card_id}",
            )
        )
        self.card_id = card_id

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> ShowAnswerButton:  # noqa: D102
        return cls(int(match["card"]))

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await review_flow(interaction).show_answer(interaction, self.card_id)


class ReviewRateButton(_Base, template=r"mirage:review:rate:(?P<card>[0-9]{1,18}):(?P<rating>[1-4])"):
    """In a review: how well one remembered; schedules the card and serves the next one."""

    def __init__(self, card_id: int, rating: Rating) -> None:
        super().__init__(
            discord.ui.Button(
                label=RATING_LABELS[rating], style=RATING_STYLES[rating],
                custom_id=f"mirage:review:rate:{card_id}:{int(rating)}",
            )
        )
        self.card_id, self.rating = card_id, rating

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> ReviewRateButton:  # noqa: D102
        return cls(int(match["card"]), Rating(int(match["rating"])))

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await review_flow(interaction).rate_card(interaction, self.card_id, self.rating)


class ForgetMeButton(_Base, template=r"mirage:forget:(?P<user>[0-9]{1,20})"):
    """Confirm `/mirage forget-me` (only the person who asked)."""

    def __init__(self, user_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Yes, delete my quiz data", emoji="🗑️", style=discord.ButtonStyle.danger,
                custom_id=f"mirage:forget:{user_id}",
            )
        )
        self.user_id = user_id

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> ForgetMeButton:  # noqa: D102
        return cls(int(match["user"]))

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:  # noqa: D102
        # No channel or role limit here: anyone may always delete what MIRAGE keeps about them.
        if interaction.user.id != self.user_id:
            await interaction.response.send_message("Only the person who asked can confirm this.", ephemeral=True)
            return False
        return True

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await review_flow(interaction).forget_confirmed(interaction)


PERSISTENT_ITEMS = (
    AnswerButton, HintButton, StopButton, RerateButton, ShowAnswerButton, ReviewRateButton, ForgetMeButton,
)


# --- views ------------------------------------------------------------------------------
def question_view(
    quiz_id: int, question_id: int, n_choices: int, *, seed: int, disabled: bool = False
) -> discord.ui.View:
    """A–E, then Hint and Stop."""
    view = discord.ui.View(timeout=None)
    for choice in range(n_choices):
        view.add_item(AnswerButton(question_id, choice))
    view.add_item(HintButton(question_id, seed))
    view.add_item(StopButton(quiz_id))
    if disabled:
        for item in view.children:
            if isinstance(item, discord.ui.DynamicItem):
                item.item.disabled = True
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
