"""The study sets' buttons: ➕ Add to set under search hits, and the private picker's one button per set.
Their state is in the custom id (`mirage:set:…`), so they work after a restart; each only builds a request
(bot/set_requests.py) and hands it over; bot/flows/sets/manage.py checks who may add."""

from __future__ import annotations

import re
from typing import Any

import discord

from ..set_requests import AddHitsToSet, PickSetFor
from .buttons import ATLAS_ID, PersistentButton
from .dispatch import hand_over

CUSTOM_ID_MAX = 100  # Discord's limit
SET_ID_DIGITS = 18
PICK_PREFIX = "mirage:set:to:"
IDS = rf"(?P<ids>{ATLAS_ID.pattern}(?:,{ATLAS_ID.pattern})*)"


def ids_that_fit(hit_ids: list[str]) -> list[str]:
    """The leading hits whose ids fit in the picker's custom id (with the longest set id): all five of a
    search page with ROCO ids (`ROCO_00020`, 10 characters)."""
    room = CUSTOM_ID_MAX - len(PICK_PREFIX) - SET_ID_DIGITS - 1
    fitting: list[str] = []
    for atlas_id in dict.fromkeys(hit_ids):
        if not ATLAS_ID.fullmatch(atlas_id) or len(",".join([*fitting, atlas_id])) > room:
            break
        fitting.append(atlas_id)
    return fitting


class AddToSetButton(PersistentButton, template=rf"mirage:set:add:{IDS}"):
    """➕ Add to set: these hits onto a study set (the clicker picks which, privately)."""

    server_limits = True

    def __init__(self, hit_ids: list[str], label: str = "Add to set") -> None:
        super().__init__(
            discord.ui.Button(
                label=label[:80], emoji="➕", style=discord.ButtonStyle.secondary,
                custom_id=f"mirage:set:add:{','.join(hit_ids)}",
            ),
            row=2,
        )
        self.hit_ids = hit_ids

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> AddToSetButton:  # noqa: D102
        return cls(match["ids"].split(","))

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await hand_over(interaction, PickSetFor(tuple(self.hit_ids)))


class PickSetButton(PersistentButton, template=rf"mirage:set:to:(?P<set>[0-9]{{1,{SET_ID_DIGITS}}}):{IDS}"):
    """One set on the private picker: the hits go onto its end."""

    server_limits = True

    def __init__(self, set_id: int, hit_ids: list[str], label: str = "", recent: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label=(label or f"Set {set_id}")[:80], emoji="📚",
                style=discord.ButtonStyle.success if recent else discord.ButtonStyle.secondary,
                custom_id=f"{PICK_PREFIX}{set_id}:{','.join(hit_ids)}",
            )
        )
        self.set_id, self.hit_ids = set_id, hit_ids

    @classmethod
    async def from_custom_id(cls, interaction: Any, item: Any, match: re.Match[str], /) -> PickSetButton:  # noqa: D102
        return cls(int(match["set"]), match["ids"].split(","))

    async def run(self, interaction: discord.Interaction[Any]) -> None:  # noqa: D102
        await hand_over(interaction, AddHitsToSet(self.set_id, tuple(self.hit_ids)))


PERSISTENT_ITEMS = (AddToSetButton, PickSetButton)
