"""Buttons on answers. Their state lives in the custom id (`mirage:<what>:<state>`), so they keep
working after the bot restarts (`DynamicItem`, registered once in `setup_hook`). A button only builds
a request (bot/requests.py) and hands it over; the flows do the work."""

from __future__ import annotations

import logging
import random
import re
from typing import Any, ClassVar

import discord

from engine.contract import ATLAS_ID_PATTERN, K_MAX, SEED_MAX

from ..access import access_denied
from ..errors import report_unexpected
from ..render import text
from ..requests import CancelJob, Generate, MoreResults, SimilarTo
from .dispatch import hand_over, settings_of
from .modals import FollowUpModal

log = logging.getLogger(__name__)

ATLAS_ID = re.compile(ATLAS_ID_PATTERN.removeprefix("^").removesuffix("$"))


class PersistentButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"mirage:_base"):
    """The one base of every button the bot posts (bot/ui/buttons.py, bot/ui/quiz_buttons.py): a subclass
    spells out its `discord.ui.Button` and custom id, reads it back in `from_custom_id`, and in `run` builds
    a request and hands it over. Errors end at the same edge as errors in commands (`report_unexpected`).

    `server_limits`: whether the server's channel and role limits are checked before the click runs (the
    quiz's buttons; search's buttons are checked by their flows, forget-me never is).

    Each button below spells out its own `discord.ui.Button` and `run`, though several look alike (More
    results and New seed both read a marked line, check a limit and hand over a request): the custom id
    it writes sits next to the template that reads it back, and the marks, limits and requests differ.
    The part that is the same, reading a mark or telling the user, is `_read_mark_or_say`.
    """

    server_limits: ClassVar[bool] = False

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:  # noqa: D102
        if not self.server_limits:
            return True
        denied = access_denied(interaction, settings_of(interaction))
        if denied is not None:
            await interaction.response.send_message(denied, ephemeral=True)
            return False
        return True

    async def callback(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        try:
            await self.run(interaction)
        except Exception as error:
            await report_unexpected(interaction, error)

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        """What the click asks for (a subclass builds its request and hands it over)."""
        raise NotImplementedError


async def _read_mark_or_say(interaction: discord.Interaction[Any], prefix: str, what: str) -> str | None:
    """The text marked with `prefix` in the clicked message; None (and the user told) when it is gone."""
    found = text.read_mark(interaction.message.content if interaction.message else "", prefix)
    if found is None:
        await interaction.response.send_message(
            f"I can't find the {what} of this answer any more.", ephemeral=True
        )
    return found


class CancelButton(PersistentButton, template=r"mirage:cancel:(?P<job>[0-9a-f]{1,16}):(?P<owner>[0-9]{1,20})"):
    """Cancel one's own queued or running request."""

    def __init__(self, job_id: str, owner_id: int) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label="Cancel",
            emoji="✖️",
            style=discord.ButtonStyle.secondary,
            custom_id=f"mirage:cancel:{job_id}:{owner_id}",
        )
        super().__init__(button)
        self.job_id, self.owner_id = job_id, owner_id

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> CancelButton:  # noqa: D102
        return cls(match["job"], int(match["owner"]))

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:  # noqa: D102
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message(
                "Only the person who asked can cancel this request.", ephemeral=True
            )
            return False
        return True

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await hand_over(interaction, CancelJob(self.job_id))


class MoreResultsButton(PersistentButton, template=r"mirage:more:(?P<shown>[0-9]{1,2}):(?P<modality>[a-z-]{1,16})"):
    """The next hits for the query in the message's marked line."""

    def __init__(self, shown: int, modality: str | None) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label="More results",
            emoji="➕",
            style=discord.ButtonStyle.primary,
            custom_id=f"mirage:more:{shown}:{modality or '-'}",
        )
        super().__init__(button, row=0)
        self.shown, self.modality = shown, modality

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> MoreResultsButton:  # noqa: D102
        modality = match["modality"]
        return cls(int(match["shown"]), None if modality == "-" else modality)

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        query = await _read_mark_or_say(interaction, text.SEARCH_MARK, "query")
        if query is None:
            return
        if self.shown >= K_MAX:
            await interaction.response.send_message(
                f"That's all: a search returns at most {K_MAX} results.", ephemeral=True
            )
            return
        await hand_over(interaction, MoreResults(query, self.shown, self.modality))


class NewSeedButton(PersistentButton, template=r"mirage:seed:(?P<steps>[0-9]{1,3}):(?P<fast>[01])"):
    """Generate again from the same prompt with a new random seed."""

    def __init__(self, steps: int, fast: bool) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label="New seed",
            emoji="🎲",
            style=discord.ButtonStyle.primary,
            custom_id=f"mirage:seed:{steps}:{int(fast)}",
        )
        super().__init__(button, row=0)
        self.steps, self.fast = steps, fast

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> NewSeedButton:  # noqa: D102
        return cls(int(match["steps"]), match["fast"] == "1")

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        prompt = await _read_mark_or_say(interaction, text.GENERATE_MARK, "prompt")
        if prompt is None:
            return
        seed = random.randint(0, SEED_MAX)
        await hand_over(interaction, Generate(prompt, seed=seed, steps=self.steps, fast=self.fast))


class UseAsQueryButton(PersistentButton, template=rf"mirage:img:(?P<atlas_id>{ATLAS_ID.pattern})"):
    """Search the atlas by this atlas image."""

    def __init__(self, atlas_id: str, label: str = "Use this as a query") -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=label[:80],
            emoji="🔍",
            style=discord.ButtonStyle.secondary,
            custom_id=f"mirage:img:{atlas_id}",
        )
        super().__init__(button, row=1)
        self.atlas_id = atlas_id

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> UseAsQueryButton:  # noqa: D102
        return cls(match["atlas_id"])

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await hand_over(interaction, SimilarTo(self.atlas_id))


class AskFollowUpButton(PersistentButton, template=r"mirage:ask"):
    """Ask a follow-up about this thread's images: opens a modal as the very first response (Discord
    accepts a modal only as the first answer to a click, never after a defer)."""

    def __init__(self) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label="Ask a follow-up", emoji="💬", style=discord.ButtonStyle.success, custom_id="mirage:ask"
        )
        super().__init__(button, row=0)

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> AskFollowUpButton:  # noqa: D102
        return cls()

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        denied = access_denied(interaction, settings_of(interaction))  # no I/O: still the first response
        if denied is not None:
            await interaction.response.send_message(denied, ephemeral=True)
            return
        await interaction.response.send_modal(FollowUpModal(thread_id=interaction.channel_id or 0))


PERSISTENT_ITEMS = (CancelButton, MoreResultsButton, NewSeedButton, UseAsQueryButton, AskFollowUpButton)
