"""The quiz's and review's buttons: each only says what was clicked, as a request (bot/requests.py), and
hands it to the services found on the client (bot/ui/dispatch.py); the flows in bot/flows/quiz/ do the work.

Every button is a `PersistentButton` whose state lives in its custom id (`mirage:quiz:…`,
`mirage:review:…`, `mirage:forget:…`), so a click still works after the bot restarts. These custom ids
are on messages already posted: change a format only with a template that still reads the old one.
"""

from __future__ import annotations

import re
from typing import Any

import discord
from fsrs import Rating

from ..render.study import ONLY_WHO_ASKED, RATING_LABELS
from ..requests import Answer, ForgetConfirmed, RateCard, Rerate, ShowCardAnswer, StopQuiz, TakeHint
from ..rules.quiz import LETTERS
from .buttons import PersistentButton
from .dispatch import hand_over

RATING_STYLES = {
    Rating.Again: discord.ButtonStyle.danger,
    Rating.Hard: discord.ButtonStyle.secondary,
    Rating.Good: discord.ButtonStyle.success,
    Rating.Easy: discord.ButtonStyle.primary,
}


class QuizButton(PersistentButton, template=r"mirage:quiz:_base"):
    """A button of the quiz or of review: the server's channel and role limits hold for it."""

    server_limits = True


class AnswerButton(QuizButton, template=r"mirage:quiz:a:(?P<question>[0-9]{1,18}):(?P<choice>[0-4])"):
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
        await hand_over(interaction, Answer(self.question_id, self.choice))


class HintButton(QuizButton, template=r"mirage:quiz:h:(?P<question>[0-9]{1,18}):(?P<seed>[0-9]{1,10})"):
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
        await hand_over(interaction, TakeHint(self.question_id, self.seed))


class StopButton(QuizButton, template=r"mirage:quiz:stop:(?P<quiz>[0-9]{1,18})"):
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
        await hand_over(interaction, StopQuiz(self.quiz_id))


class RerateButton(QuizButton, template=r"mirage:quiz:rate:(?P<question>[0-9]{1,18}):(?P<rating>[1-4])"):
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
        await hand_over(interaction, Rerate(self.question_id, int(self.rating)))


class ShowAnswerButton(QuizButton, template=r"mirage:review:show:(?P<card>[0-9]{1,18})"):
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
        await hand_over(interaction, ShowCardAnswer(self.card_id))


class ReviewRateButton(
    QuizButton, template=r"mirage:review:rate:(?P<card>[0-9]{1,18}):(?P<rating>[1-4])(?::(?P<version>[0-9]{1,18}))?"
):
    """In a review: how well one remembered; schedules the card (once: `version` is the card's version the
    back was shown at; messages from before versions have none) and serves the next one."""

    def __init__(self, card_id: int, rating: Rating, version: int | None = None) -> None:
        suffix = f":{version}" if version is not None else ""
        super().__init__(
            discord.ui.Button(
                label=RATING_LABELS[rating], style=RATING_STYLES[rating],
                custom_id=f"mirage:review:rate:{card_id}:{int(rating)}{suffix}",
            )
        )
        self.card_id, self.rating, self.version = card_id, rating, version

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> ReviewRateButton:  # noqa: D102
        version = int(match["version"]) if match["version"] else None
        return cls(int(match["card"]), Rating(int(match["rating"])), version)

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await hand_over(interaction, RateCard(self.card_id, int(self.rating), self.version))


class ForgetMeButton(PersistentButton, template=r"mirage:forget:(?P<user>[0-9]{1,20})"):
    """Confirm `/mirage forget-me` (only the person who asked; no channel or role limit: anyone may always
    delete what MIRAGE keeps about them)."""

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
        if interaction.user.id != self.user_id:
            await interaction.response.send_message(ONLY_WHO_ASKED, ephemeral=True)
            return False
        return True

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await hand_over(interaction, ForgetConfirmed())


PERSISTENT_ITEMS = (
    AnswerButton, HintButton, StopButton, RerateButton, ShowAnswerButton, ReviewRateButton, ForgetMeButton,
)
