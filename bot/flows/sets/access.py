"""Who may do what with a server's study sets, and finding a set by name in the server asked from.

- Any member of the server may list and play its sets (the server's channel and role limits still hold).
- Teachers build sets: members who may manage messages in the channel, or who have one of the roles in
  MIRAGE_SET_EDITOR_ROLES.
- A set is changed (items added or removed) or deleted by nothing but its owner or a moderator (Manage
  Messages). After the owner's forget-me the set is the server's: moderators only.
"""

from __future__ import annotations

from typing import Any

import discord
from sqlalchemy.ext.asyncio import AsyncSession

from ...config import BotSettings
from ...errors import say_privately
from ...render import sets as render
from ...store import sets
from ...store.sets import StudySet


def is_moderator(interaction: discord.Interaction[Any]) -> bool:
    """A member who may manage messages where they asked."""
    return interaction.guild_id is not None and bool(interaction.permissions.manage_messages)


def is_teacher(interaction: discord.Interaction[Any], settings: BotSettings) -> bool:
    """A moderator, or a member with one of MIRAGE_SET_EDITOR_ROLES."""
    if is_moderator(interaction):
        return True
    roles = {role.id for role in getattr(interaction.user, "roles", [])}
    return bool(roles & set(settings.set_editor_roles))


def may_change(interaction: discord.Interaction[Any], owner_id: int | None) -> bool:
    """May the user change a set owned by `owner_id` (None: the server's)? Its owner or a moderator."""
    return is_moderator(interaction) or (owner_id is not None and owner_id == interaction.user.id)


def server_refusal(interaction: discord.Interaction[Any]) -> str | None:
    """Why sets cannot be used here (a DM, or someone who is not a member of the server), or None."""
    if interaction.guild_id is None:
        return render.NOT_IN_SERVER
    if not hasattr(interaction.user, "roles"):  # a discord.User, not a Member: not a member of this server
        return render.NOT_A_MEMBER
    return None


async def refuse_unless_member(interaction: discord.Interaction[Any]) -> bool:
    """Tell the user privately and return True when sets cannot be used here."""
    refusal = server_refusal(interaction)
    if refusal is not None:
        await say_privately(interaction, refusal)
        return True
    return False


async def find_or_say(
    interaction: discord.Interaction[Any], session: AsyncSession, name: str
) -> StudySet | None:
    """The server's set of that name, or None after telling the user which sets the server has."""
    assert interaction.guild_id is not None
    found = await sets.find_set(session, interaction.guild_id, name)
    if found is None:
        names = [s.title for s in await sets.server_sets(session, interaction.guild_id)]
        await say_privately(interaction, render.no_such_set(" ".join(name.split()), names))
    return found
