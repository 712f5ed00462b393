"""The buttons of a reveal that teaches and of review that tests: "Why C?" under a reveal, "Review missed
cases" under the recap, the letters on a review card's front and "change the rating" after it.

Each carries its state in its custom id (they work after a restart): a review letter carries the card's
version, so a message rates its card at most once, and the review it belongs to (`scope`).
"""

from __future__ import annotations

import re
from typing import Any

import discord
from fsrs import Rating

from ..render.study import RATING_LABELS
from ..requests import ChangeRating, Review, ReviewAnswer, ReviewHint, WhyChoice
from ..rules.quiz import LETTERS
from .dispatch import hand_over
from .quiz_buttons import RATING_STYLES, QuizButton

CUSTOM_ID_MAX = 100  # Discord's limit


def encode_scope(review: Review, room: int) -> str:
    """A review's scope in at most `room` characters: '', m=<modality>, q=<quiz id> or t=<topic> (cut)."""
    if review.quiz_id is not None:
        return f"q={review.quiz_id}"
    if review.topic:
        return f"t={review.topic}"[: max(0, room)]
    if review.modality:
        return f"m={review.modality}"[: max(0, room)]
    return ""


def decode_scope(scope: str) -> Review:
    """`encode_scope` read back (an unknown form is the whole review)."""
    kind, _, value = scope.partition("=")
    if kind == "q" and value.isdigit():
        return Review(quiz_id=int(value))
    if kind == "t" and value:
        return Review(topic=value)
    if kind == "m" and value:
        return Review(modality=value)
    return Review()


class WhyButton(QuizButton, template=r"mirage:quiz:why:(?P<question>[0-9]{1,18})"):
    """Under a reveal: what tells the right image apart from the others, grounded in their captions."""

    def __init__(self, question_id: int, right: str = "") -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Why {right}?" if right else "Why?", emoji="🔍", style=discord.ButtonStyle.primary,
                custom_id=f"mirage:quiz:why:{question_id}",
            ),
            row=1,
        )  # fmt: skip
        self.question_id = question_id

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> WhyButton:  # noqa: D102
        return cls(int(match["question"]))

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await hand_over(interaction, WhyChoice(self.question_id))


class MissedButton(QuizButton, template=r"mirage:quiz:missed:(?P<quiz>[0-9]{1,18})"):
    """Under the recap: a private review of just the cases the clicker missed in this quiz."""

    def __init__(self, quiz_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Review missed cases", emoji="🗂️", style=discord.ButtonStyle.primary,
                custom_id=f"mirage:quiz:missed:{quiz_id}",
            )
        )  # fmt: skip
        self.quiz_id = quiz_id

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> MissedButton:  # noqa: D102
        return cls(int(match["quiz"]))

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await hand_over(interaction, Review(quiz_id=self.quiz_id))


class ReviewLetterButton(
    QuizButton,
    template=r"mirage:rv:a:(?P<card>[0-9]{1,18}):(?P<version>[0-9]{1,18}):(?P<pos>[0-4]):(?P<shown>[0-9]{1,12})"
    r"(?:h(?P<hints>[0-9]))?:(?P<scope>.*)",
):
    """A letter on a review card's front (after `hints` rungs of its hint ladder: `…:<shown>h<n>:`)."""

    def __init__(self, request: ReviewAnswer) -> None:
        hints = f"h{request.hints}" if request.hints else ""
        head = (
            f"mirage:rv:a:{request.card_id}:{request.version}:{request.position}:{request.shown_at}{hints}:"
        )
        super().__init__(
            discord.ui.Button(
                label=LETTERS[request.position], style=discord.ButtonStyle.primary,
                custom_id=head + encode_scope(request.scope, CUSTOM_ID_MAX - len(head)),
            )
        )  # fmt: skip
        self.request = request

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> ReviewLetterButton:  # noqa: D102
        return cls(
            ReviewAnswer(
                int(match["card"]), int(match["version"]), int(match["pos"]), int(match["shown"]),
                decode_scope(match["scope"]), int(match["hints"] or 0),
            )
        )  # fmt: skip

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await hand_over(interaction, self.request)


class ReviewHintButton(
    QuizButton,
    template=r"mirage:rv:h:(?P<card>[0-9]{1,18}):(?P<version>[0-9]{1,18}):(?P<shown>[0-9]{1,12}):(?P<level>[1-9]):(?P<scope>.*)",
):
    """The next rung of a review card's hint ladder (a right answer after a hint rates Hard)."""

    def __init__(self, request: ReviewHint) -> None:
        head = f"mirage:rv:h:{request.card_id}:{request.version}:{request.shown_at}:{request.level}:"
        super().__init__(
            discord.ui.Button(
                label="Hint", emoji="💡", style=discord.ButtonStyle.secondary,
                custom_id=head + encode_scope(request.scope, CUSTOM_ID_MAX - len(head)),
            )
        )  # fmt: skip
        self.request = request

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> ReviewHintButton:  # noqa: D102
        return cls(
            ReviewHint(
                int(match["card"]), int(match["version"]), int(match["shown"]), int(match["level"]),
                decode_scope(match["scope"]),
            )
        )  # fmt: skip

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await hand_over(interaction, self.request)


class ChangeRatingButton(
    QuizButton, template=r"mirage:rv:c:(?P<card>[0-9]{1,18}):(?P<version>[0-9]{1,18}):(?P<rating>[1-4])"
):
    """After an answer in review: change the rating it gave, once."""

    def __init__(self, card_id: int, version: int, rating: Rating) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Make it {RATING_LABELS[rating]}", style=RATING_STYLES[rating],
                custom_id=f"mirage:rv:c:{card_id}:{version}:{int(rating)}",
            )
        )  # fmt: skip
        self.card_id, self.version, self.rating = card_id, version, rating

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> ChangeRatingButton:  # noqa: D102
        return cls(int(match["card"]), int(match["version"]), Rating(int(match["rating"])))

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await hand_over(interaction, ChangeRating(self.card_id, self.version, int(self.rating)))


PERSISTENT_ITEMS = (WhyButton, MissedButton, ReviewLetterButton, ReviewHintButton, ChangeRatingButton)
