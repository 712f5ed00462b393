"""`/mirage set create | add | remove | list | play | delete | export | import`: a subcommand group under
`/mirage` (added by `add_set_commands`). Each command only turns its options into a request
(bot/set_requests.py) and hands it over; bot/flows/sets/ does the work and says who may do what."""

from __future__ import annotations

import re
from typing import Any

import discord
from discord import app_commands

from ..set_requests import SetAdd, SetCreate, SetDelete, SetExport, SetImport, SetList, SetPlay, SetRemove
from .dispatch import hand_over

NAME_MAX = 100  # bot.store.sets.TITLE_MAX
IDS_MAX_CHARS = 1000
Name = app_commands.Range[str, 1, NAME_MAX]
Ids = app_commands.Range[str, 1, IDS_MAX_CHARS]
SEPARATORS = re.compile(r"[\s,;`]+")


def split_ids(text: str) -> tuple[str, ...]:
    """Ids as typed: separated by spaces, commas or semicolons (backticks ignored), each once, in order."""
    return tuple(dict.fromkeys(p for p in SEPARATORS.split(text) if p))


class SetCommands(app_commands.Group, name="set", description="Study sets: a teacher's named sets of atlas images"):
    """The study-set subcommands (the `/mirage` group's channel and role limits hold for them)."""

    @app_commands.command(description="Make a new, empty study set for this server (teachers)")
    @app_commands.describe(name="The set's name, e.g. 'Week 3 chest' (unique in this server)")
    async def create(self, interaction: discord.Interaction[Any], name: Name) -> None:
        """A new set owned by the teacher."""
        await hand_over(interaction, SetCreate(name))

    @app_commands.command(description="Add atlas images to a set, by id (its owner or a moderator)")
    @app_commands.describe(name="The set's name", ids="Atlas ids, e.g. 'ROCO_00020 ROCO_00113' (spaces or commas)")
    async def add(self, interaction: discord.Interaction[Any], name: Name, ids: Ids) -> None:
        """Ids onto the end of a set."""
        await hand_over(interaction, SetAdd(name, split_ids(ids)))

    @app_commands.command(description="Take atlas images out of a set, by id (its owner or a moderator)")
    @app_commands.describe(name="The set's name", ids="Atlas ids to remove (spaces or commas)")
    async def remove(self, interaction: discord.Interaction[Any], name: Name, ids: Ids) -> None:
        """Ids out of a set."""
        await hand_over(interaction, SetRemove(name, split_ids(ids)))

    @app_commands.command(name="list", description="This server's study sets, or one set's images")
    @app_commands.describe(name="A set's name to see its images in quiz order (leave out: all sets)")
    async def list_(self, interaction: discord.Interaction[Any], name: Name | None = None) -> None:
        """The sets, or one set's items."""
        await hand_over(interaction, SetList(name))

    @app_commands.command(description="A group quiz in a thread over a set's images, in the set's order")
    @app_commands.describe(name="The set's name")
    async def play(self, interaction: discord.Interaction[Any], name: Name) -> None:
        """Play a set."""
        await hand_over(interaction, SetPlay(name))

    @app_commands.command(description="Delete a study set (its owner or a moderator)")
    @app_commands.describe(name="The set's name")
    async def delete(self, interaction: discord.Interaction[Any], name: Name) -> None:
        """Delete a set."""
        await hand_over(interaction, SetDelete(name))

    @app_commands.command(description="A set as a small JSON file (name and atlas ids) to share with a course")
    @app_commands.describe(name="The set's name")
    async def export(self, interaction: discord.Interaction[Any], name: Name) -> None:
        """Export a set."""
        await hand_over(interaction, SetExport(name))

    @app_commands.command(name="import", description="Make a set from a file made by /mirage set export (teachers)")
    @app_commands.describe(file="The .json file", name="A name for the set here (default: the name in the file)")
    async def import_(
        self, interaction: discord.Interaction[Any], file: discord.Attachment, name: Name | None = None
    ) -> None:
        """Import a set."""
        await hand_over(interaction, SetImport(file, name))


def add_set_commands(group: app_commands.Group) -> None:
    """Add `/mirage set …` to the `/mirage` group (a fresh group object each time; a group made with a
    parent adds itself to it)."""
    SetCommands(parent=group)
