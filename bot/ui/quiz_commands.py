"""`/mirage quiz | review | progress | scores | forget-me`: parameters Discord checks, turned into requests
(bot/requests.py) and handed to the services found on the client; the flows in bot/flows/quiz/ do the work.

The commands are added to the `/mirage` group by `add_commands`, so the group's module needs to know
nothing about quizzes.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import discord
from discord import app_commands

from engine.contract import MODALITIES, QUIZ_TOPIC_MAX_CHARS

from ..requests import ForgetMe, ListReports, Progress, Review, Scores, StartQuiz
from .dispatch import hand_over

QUESTIONS_MIN, QUESTIONS_MAX, QUESTIONS_DEFAULT = 1, 20, 5
MODALITY_CHOICES = [
    app_commands.Choice(name=m.upper() if len(m) <= 3 else m.capitalize(), value=m) for m in MODALITIES
]
KIND_CHOICES = [
    app_commands.Choice(name="Which caption is it? (default)", value="caption"),
    app_commands.Choice(name="Which modality is it?", value="modality"),
]


@app_commands.describe(
    modality="Only images of this kind (caption questions; a modality quiz takes none)",
    questions=f"How many questions ({QUESTIONS_MIN}–{QUESTIONS_MAX}, default {QUESTIONS_DEFAULT})",
    kind="What to guess: the caption (default) or the modality",
    topic="A topic, e.g. pneumothorax: the atlas images nearest it",
    concept="A UMLS concept id (CUI), e.g. C0032326: the images whose caption has it",
)
@app_commands.choices(modality=MODALITY_CHOICES, kind=KIND_CHOICES)
async def quiz(
    interaction: discord.Interaction[Any],
    modality: app_commands.Choice[str] | None = None,
    questions: app_commands.Range[int, QUESTIONS_MIN, QUESTIONS_MAX] = QUESTIONS_DEFAULT,
    kind: app_commands.Choice[str] | None = None,
    topic: app_commands.Range[str, 1, QUIZ_TOPIC_MAX_CHARS] | None = None,
    concept: app_commands.Range[str, 1, 16] | None = None,
) -> None:
    """Start a case quiz in a thread."""
    request = StartQuiz(
        questions, kind.value if kind else "caption", modality.value if modality else None, topic, concept
    )
    await hand_over(interaction, request)


REVIEW_TOPIC_MAX = 30  # the topic travels in the card's buttons (Discord's 100-character custom ids)


@app_commands.describe(
    modality="Only cards of this kind of image",
    topic="Only cases on a topic, e.g. pneumothorax (their caption names it, or the atlas images nearest it)",
)
@app_commands.choices(modality=MODALITY_CHOICES)
async def review(
    interaction: discord.Interaction[Any],
    modality: app_commands.Choice[str] | None = None,
    topic: app_commands.Range[str, 1, REVIEW_TOPIC_MAX] | None = None,
) -> None:
    """Your due review cards, one by one (only you see them)."""
    await hand_over(interaction, Review(modality.value if modality else None, topic.strip() if topic else None))


async def progress(interaction: discord.Interaction[Any]) -> None:
    """Your due cards, streak and accuracy (only you see it)."""
    await hand_over(interaction, Progress())


async def scores(interaction: discord.Interaction[Any]) -> None:
    """This server's quiz leaderboard."""
    await hand_over(interaction, Scores())


async def reports(interaction: discord.Interaction[Any]) -> None:
    """This server's reported quiz questions (members who can manage messages)."""
    await hand_over(interaction, ListReports())


async def forget_me(interaction: discord.Interaction[Any]) -> None:
    """Delete everything MIRAGE keeps about you, after a confirm button."""
    await hand_over(interaction, ForgetMe())


COMMANDS: tuple[tuple[str, str, Callable[..., Coroutine[Any, Any, None]]], ...] = (
    ("quiz", "A case quiz for the group in a thread: real atlas images, A–D answers, a scoreboard", quiz),
    ("review", "Your spaced-review cards that are due, one by one (only you see them)", review),
    ("progress", "Your due cards, study streak and accuracy by modality (only you see it)", progress),
    ("scores", "This server's quiz leaderboard: top 10 this week and all time", scores),
    ("forget-me", "Delete your quiz answers, cards and scores (asks you to confirm)", forget_me),
    ("reports", "Quiz questions reported as wrong or unfair in this server (moderators)", reports),
)


def add_commands(group: app_commands.Group) -> None:
    """Add the quiz commands to the `/mirage` group (fresh command objects for each group). A database
    that is down ends at the tree's error edge as a short "try again" (bot/errors.py)."""
    for name, description, callback in COMMANDS:
        group.add_command(app_commands.Command(name=name, description=description, callback=callback))
