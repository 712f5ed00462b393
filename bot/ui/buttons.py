"""Buttons on answers. Their state lives in the custom id (`mirage:<what>:<state>`), so they keep
working after the bot restarts (`DynamicItem`, registered once in `setup_hook`)."""

from __future__ import annotations

import logging
import random
import re
from typing import Any

import discord

from engine.contract import K_MAX, SEED_MAX

from . import jobs, messages
from .errors import report_unexpected
from .queue import Job
from .services import services_of

log = logging.getLogger(__name__)

ATLAS_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_QUERY_BUTTONS = 5


class _Base(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"mirage:_base"):
    """Shared plumbing: errors in a button end at the same edge as errors in commands."""

    async def callback(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        try:
            await self.run(interaction)
        except Exception as error:
            await report_unexpected(interaction, error)

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        raise NotImplementedError


async def _read_mark_or_say(interaction: discord.Interaction[Any], prefix: str, what: str) -> str | None:
    """The text marked with `prefix` in the clicked message; None (and the user told) when it is gone."""
    text = messages.read_mark(interaction.message.content if interaction.message else "", prefix)
    if text is None:
        await interaction.response.send_message(
            f"I can't find the {what} of this answer any more.", ephemeral=True
        )
    return text


class CancelButton(_Base, template=r"mirage:cancel:(?P<job>[0-9a-f]{1,16}):(?P<owner>[0-9]{1,20})"):
    """Cancel one's own queued or running request."""

    def __init__(self, job_id: str, owner_id: int) -> None:
        button = discord.ui.Button(
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
        if services_of(interaction).queue.cancel(self.job_id, interaction.user.id):
            await interaction.response.send_message("Cancelling your request.", ephemeral=True)
        else:
            await interaction.response.send_message("That request has already finished.", ephemeral=True)


class MoreResultsButton(_Base, template=r"mirage:more:(?P<shown>[0-9]{1,2}):(?P<modality>[a-z-]{1,16})"):
    """The next hits for the query in the message's marked line."""

    def __init__(self, shown: int, modality: str | None) -> None:
        button = discord.ui.Button(
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
        query = await _read_mark_or_say(interaction, messages.SEARCH_MARK, "query")
        if query is None:
            return
        if self.shown >= K_MAX:
            await interaction.response.send_message(
                f"That's all: a search returns at most {K_MAX} results.", ephemeral=True
            )
            return
        await jobs.start_more_results(
            interaction, services_of(interaction), query, shown=self.shown, modality=self.modality
        )


class NewSeedButton(_Base, template=r"mirage:seed:(?P<steps>[0-9]{1,3}):(?P<fast>[01])"):
    """Generate again from the same prompt with a new random seed."""

    def __init__(self, steps: int, fast: bool) -> None:
        button = discord.ui.Button(
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
        prompt = await _read_mark_or_say(interaction, messages.GENERATE_MARK, "prompt")
        if prompt is None:
            return
        seed = random.randint(0, SEED_MAX)
        await jobs.start_generate(
            interaction, services_of(interaction), prompt, seed=seed, steps=self.steps, fast=self.fast
        )


class UseAsQueryButton(_Base, template=rf"mirage:img:(?P<atlas_id>{ATLAS_ID.pattern})"):
    """Search the atlas by this atlas image."""

    def __init__(self, atlas_id: str, label: str = "Use this as a query") -> None:
        button = discord.ui.Button(
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
        await jobs.start_atlas_image_search(interaction, services_of(interaction), self.atlas_id)


PERSISTENT_ITEMS = (CancelButton, MoreResultsButton, NewSeedButton, UseAsQueryButton)


# --- views on answers ------------------------------------------------------------------
def cancel_view(job: Job) -> discord.ui.View:
    """The cancel button under a job's status line."""
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job.id, job.user_id))
    return view


def _add_query_buttons(view: discord.ui.View, labelled_ids: list[tuple[str, str]]) -> None:
    # One button per atlas image: Discord refuses a message whose components repeat a custom_id.
    seen: set[str] = set()
    for label, atlas_id in labelled_ids[:MAX_QUERY_BUTTONS]:
        if ATLAS_ID.fullmatch(atlas_id) and atlas_id not in seen:
            seen.add(atlas_id)
            view.add_item(UseAsQueryButton(atlas_id, label))


def search_view(*, shown: int, modality: str | None, hit_ids: list[str], first: int = 1) -> discord.ui.View:
    """More results (while under K_MAX) and 'use #n as query' for the hits."""
    view = discord.ui.View(timeout=None)
    if shown < K_MAX:
        view.add_item(MoreResultsButton(shown, modality))
    _add_query_buttons(view, [(f"Use #{first + i} as query", h) for i, h in enumerate(hit_ids)])
    return view


def hits_view(hit_ids: list[str]) -> discord.ui.View:
    """'Use #n as query' for image-search hits."""
    view = discord.ui.View(timeout=None)
    _add_query_buttons(view, [(f"Use #{n} as query", h) for n, h in enumerate(hit_ids, 1)])
    return view


def compare_view(left_id: str, right_id: str) -> discord.ui.View:
    """'Use left/right as query'."""
    view = discord.ui.View(timeout=None)
    if left_id == right_id:  # the arithmetic moved nowhere: both sides are the same image
        _add_query_buttons(view, [("Use this image as query", left_id)])
    else:
        _add_query_buttons(view, [("Use left as query", left_id), ("Use right as query", right_id)])
    return view


def generate_view(*, steps: int, fast: bool, nearest_id: str | None) -> discord.ui.View:
    """New seed, and 'use the nearest real image as query'."""
    view = discord.ui.View(timeout=None)
    view.add_item(NewSeedButton(steps, fast))
    if nearest_id:
        _add_query_buttons(view, [("Use the real image as query", nearest_id)])
    return view
