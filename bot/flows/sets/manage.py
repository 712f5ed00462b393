"""`/mirage set create | add | remove | list | delete` and the ➕ Add to set button's two clicks: each
answer is private (only the teacher sees it); a refusal changes nothing."""

from __future__ import annotations

from typing import Any

import discord

from ...engine_client import EngineError
from ...errors import say_privately
from ...render import sets as render
from ...render.text import friendly_error
from ...set_requests import AddHitsToSet, PickSetFor, SetAdd, SetCreate, SetDelete, SetList, SetRemove
from ...store import Database, sets
from ...store.sets import SET_ITEMS_MAX, SetError
from ...ui.views import set_picker_view
from ..context import Context
from .access import find_or_say, is_teacher, may_change, refuse_unless_member
from .atlas import in_atlas

PICKER_SETS_MAX = 20  # buttons on the picker (Discord: 25 components a message)


def _db(ctx: Context) -> Database:
    assert ctx.db is not None  # the services send set requests only where a database is wired
    return ctx.db


async def _teacher_here(interaction: discord.Interaction[Any], ctx: Context) -> bool:
    """A member of this server who may build sets; the others are told why not."""
    if await refuse_unless_member(interaction):
        return False
    if not is_teacher(interaction, ctx.settings):
        await say_privately(interaction, render.NOT_A_TEACHER)
        return False
    return True


async def create(interaction: discord.Interaction[Any], ctx: Context, request: SetCreate) -> None:
    """A new empty set, owned by the teacher; a name the server has (any case) is refused."""
    if not await _teacher_here(interaction, ctx):
        return
    assert interaction.guild_id is not None
    try:
        async with _db(ctx).session() as session:
            made = await sets.create_set(
                session, guild_id=interaction.guild_id, title=request.name, owner_id=interaction.user.id
            )
            title = made.title
    except SetError as error:
        await say_privately(interaction, f"❌ {error}")
        return
    await say_privately(interaction, render.created(title))


async def add(interaction: discord.Interaction[Any], ctx: Context, request: SetAdd) -> None:
    """Typed ids onto the end of a set."""
    if not request.ids:
        await say_privately(interaction, render.NO_IDS)
        return
    await _add_ids(interaction, ctx, request.ids, name=request.name)


async def _add_ids(
    interaction: discord.Interaction[Any], ctx: Context, ids: tuple[str, ...], *,
    name: str | None = None, set_id: int | None = None,
) -> None:
    """Check the ids against the atlas, then append the ones it has; every id given is accounted for."""
    if not await _teacher_here(interaction, ctx):
        return
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        present, missing = await in_atlas(ctx.engine, list(ids))
    except EngineError as error:
        await say_privately(interaction, f"❌ {friendly_error(error)} Nothing was added.")
        return
    async with _db(ctx).session() as session:
        study_set = await (sets.get_set(session, set_id) if set_id is not None else find_or_say(interaction, session, name or ""))
        if study_set is None or study_set.guild_id != interaction.guild_id:
            if set_id is not None:
                await say_privately(interaction, "That study set is gone (deleted meanwhile); nothing was added.")
            return
        if not may_change(interaction, study_set.owner_id):
            await say_privately(interaction, render.not_yours(study_set.title))
            return
        result = await sets.add_items(session, study_set, present)
        size = len(await sets.set_items(session, study_set.id))
        text = render.added(
            study_set.title, added=result.added, already=result.already, missing=missing,
            over_limit=result.over_limit, size=size, limit=SET_ITEMS_MAX,
        )
    await say_privately(interaction, text)


async def remove(interaction: discord.Interaction[Any], ctx: Context, request: SetRemove) -> None:
    """Take ids out of a set; the others keep their order."""
    if not request.ids:
        await say_privately(interaction, render.NO_IDS)
        return
    if await refuse_unless_member(interaction):
        return
    async with _db(ctx).session() as session:
        study_set = await find_or_say(interaction, session, request.name)
        if study_set is None:
            return
        if not may_change(interaction, study_set.owner_id):
            await say_privately(interaction, render.not_yours(study_set.title))
            return
        gone, absent = await sets.remove_items(session, study_set, list(request.ids))
        size = len(await sets.set_items(session, study_set.id))
        text = render.removed(study_set.title, gone, absent, size)
    await say_privately(interaction, text)


async def delete(interaction: discord.Interaction[Any], ctx: Context, request: SetDelete) -> None:
    """Delete a set: its owner or a moderator only."""
    if await refuse_unless_member(interaction):
        return
    async with _db(ctx).session() as session:
        study_set = await find_or_say(interaction, session, request.name)
        if study_set is None:
            return
        if not may_change(interaction, study_set.owner_id):
            await say_privately(interaction, render.not_yours(study_set.title))
            return
        title = study_set.title
        items = await sets.delete_set(session, study_set)
    await say_privately(interaction, render.deleted(title, items))


async def show(interaction: discord.Interaction[Any], ctx: Context, request: SetList) -> None:
    """The server's sets, or one set's images in quiz order."""
    if await refuse_unless_member(interaction):
        return
    assert interaction.guild_id is not None
    async with _db(ctx).session() as session:
        if request.name is None:
            listed = await sets.server_sets(session, interaction.guild_id)
            text = render.set_list([(s.title, s.size, s.owner_id) for s in listed]) if listed else render.NO_SETS
        else:
            study_set = await find_or_say(interaction, session, request.name)
            if study_set is None:
                return
            text = render.set_items(study_set.title, await sets.set_items(session, study_set.id), study_set.owner_id)
    await say_privately(interaction, text)


async def pick(interaction: discord.Interaction[Any], ctx: Context, request: PickSetFor) -> None:
    """➕ Add to set under search hits: privately, one button per set the clicker may change (the most
    recently changed first and highlighted)."""
    if not await _teacher_here(interaction, ctx):
        return
    assert interaction.guild_id is not None
    async with _db(ctx).session() as session:
        listed = await sets.server_sets(session, interaction.guild_id)
    mine = [s for s in listed if may_change(interaction, s.owner_id)][:PICKER_SETS_MAX]
    if not mine:
        await say_privately(interaction, render.NO_SETS if not listed else render.NO_SETS_YOU_MAY_CHANGE)
        return
    view = set_picker_view([(s.id, s.title, s.size) for s in mine], list(request.hit_ids))
    await interaction.response.send_message(render.pick_set(request.hit_ids, mine[0].title), view=view, ephemeral=True)


async def add_hits(interaction: discord.Interaction[Any], ctx: Context, request: AddHitsToSet) -> None:
    """A set picked on the Add-to-set question: the hits go onto its end."""
    await _add_ids(interaction, ctx, request.hit_ids, set_id=request.set_id)
