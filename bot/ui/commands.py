"""The `/mirage` slash-command group. Limits come from the engine's contract, so Discord enforces them.

A command only turns its options into a request (bot/requests.py) and hands it over; the flows do the work.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from engine.contract import (
    ASK_QUESTION_MAX_CHARS,
    FAST_STEPS_MAX,
    FAST_STEPS_MIN,
    K_DEFAULT,
    K_MAX,
    K_MIN,
    MODALITIES,
    QUERY_MAX_CHARS,
    SEED_MAX,
    SEED_MIN,
    STEPS_MAX,
    STEPS_MIN,
)

from ..access import access_denied
from ..render import text
from ..requests import AskNew, Compare, Generate, SearchImage, SearchText
from .dispatch import hand_over, settings_of
from .set_commands import add_set_commands

Text = app_commands.Range[str, 1, QUERY_MAX_CHARS]
Question = app_commands.Range[str, 1, ASK_QUESTION_MAX_CHARS]
MODALITY_NAMES = {
    "x-ray": "X-ray",
    "ct": "CT",
    "mri": "MRI",
    "ultrasound": "Ultrasound",
    "angiography": "Angiography",
    "nuclear": "Nuclear medicine",
    "other": "Other",
}
# The values come from the contract; a modality added there without a name here fails at import.
MODALITY_CHOICES = [app_commands.Choice(name=MODALITY_NAMES[value], value=value) for value in MODALITIES]


# What a student can do in a direct message with the bot: the solo quiz and their own review, progress and
# data. Discord applies contexts to the whole `/mirage` group, so the group allows DMs and the others
# (answers open in a thread for the group; leaderboards are a server's) say where to use them instead.
DM_COMMANDS = ("quiz", "review", "progress", "forget-me", "help")


def server_only(command: str) -> str:
    """The answer to a server-only subcommand used in a DM."""
    usable = ", ".join(f"`/mirage {name}`" for name in DM_COMMANDS)
    return (
        f"`/mirage {command}` works in a server, where its answer opens in a thread for your group. "
        f"Here in our DM you can use {usable}."
    )


@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
class MirageCommands(
    app_commands.Group, name="mirage", description="Radiology images and explanations for study"
):
    """`/mirage search | compare | generate | ask | help` (and the quiz's commands, added by bot/ui/quiz_commands.py;
    the study sets' `/mirage set …` group, bot/ui/set_commands.py)."""

    def __init__(self) -> None:
        super().__init__()
        add_set_commands(self)

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """In a server, its channel and role limits hold for every subcommand, `help` included; in a DM,
        only the subcommands of DM_COMMANDS answer (the server limits are a server's)."""
        if interaction.guild_id is None:
            # "set play" for a subcommand of a group under /mirage, so the answer names it in full
            name = getattr(interaction.command, "qualified_name", "").removeprefix("mirage ")
            if name not in DM_COMMANDS:
                raise app_commands.CheckFailure(server_only(name))
            return True
        denied = access_denied(interaction, settings_of(interaction))
        if denied is not None:
            raise app_commands.CheckFailure(denied)  # the tree's on_error shows it to the user only
        return True

    @app_commands.command(description="Find real atlas images and a short explanation (or images like yours)")
    @app_commands.describe(
        query=f"What to look for, e.g. 'pneumothorax on chest x-ray' (1–{QUERY_MAX_CHARS} characters)",
        k=f"How many images ({K_MIN}–{K_MAX}, default {K_DEFAULT})",
        modality="Only images of this kind",
        image="Search by this image instead of text",
    )
    @app_commands.choices(modality=MODALITY_CHOICES)
    async def search(
        self,
        interaction: discord.Interaction[Any],
        query: Text | None = None,
        k: app_commands.Range[int, K_MIN, K_MAX] = K_DEFAULT,
        modality: app_commands.Choice[str] | None = None,
        image: discord.Attachment | None = None,
    ) -> None:
        """Search by text (with an explanation) or by image."""
        if image is not None:
            text_ignored = query is not None and bool(query.strip())
            await hand_over(interaction, SearchImage(image, k, text_ignored=text_ignored))
        elif query is not None and query.strip():
            await hand_over(interaction, SearchText(query.strip(), k, modality.value if modality else None))
        else:
            await interaction.response.send_message(
                "Give me a `query` (text) or an `image` to search with.", ephemeral=True
            )

    @app_commands.command(description="Move a query in image space: base − subtract + add, side by side")
    @app_commands.describe(
        base="The starting query, e.g. 'left pleural effusion'",
        subtract="What to take away, e.g. 'left'",
        add="What to put in, e.g. 'right'",
    )
    async def compare(
        self, interaction: discord.Interaction[Any], base: Text, subtract: Text, add: Text
    ) -> None:
        """Compare the top image for base with the one for base − subtract + add."""
        await hand_over(interaction, Compare(base, subtract, add))

    @app_commands.command(description="Make a SYNTHETIC image from a prompt, beside the nearest real one")
    @app_commands.describe(
        prompt="What to draw, e.g. 'axial CT of the brain with a subdural hematoma'",
        seed=f"Same seed, same picture ({SEED_MIN}–{SEED_MAX}); random when left out",
        steps=f"Diffusion steps ({STEPS_MIN}–{STEPS_MAX}; {FAST_STEPS_MIN}–{FAST_STEPS_MAX} with fast)",
        fast="Answer in seconds with a few-step model (lower quality)",
    )
    async def generate(
        self,
        interaction: discord.Interaction[Any],
        prompt: Text,
        seed: app_commands.Range[int, SEED_MIN, SEED_MAX] | None = None,
        steps: app_commands.Range[int, STEPS_MIN, STEPS_MAX] | None = None,
        fast: bool = False,
    ) -> None:
        """Generate a synthetic image (the contract's GenerateRequest checks the steps of fast mode)."""
        await hand_over(interaction, Generate(prompt, seed=seed, steps=steps, fast=fast))

    @app_commands.command(description="Ask a question, answered from atlas images with their sources")
    @app_commands.describe(
        question=f"e.g. 'why is a pneumothorax dark on x-ray?' (1–{ASK_QUESTION_MAX_CHARS} characters). "
        "In an answer thread, it is a follow-up on that thread's images."
    )
    async def ask(self, interaction: discord.Interaction[Any], question: Question) -> None:
        """A grounded answer: in a known thread on its images, elsewhere on a fresh search's top hits."""
        await hand_over(interaction, AskNew(question.strip()))

    @app_commands.command(name="help", description="What MIRAGE can do, with examples")
    async def help_(self, interaction: discord.Interaction[Any]) -> None:
        """Explain the commands (only you see it)."""
        await interaction.response.send_message(text.HELP_TEXT, ephemeral=True)
