"""Export a set as a small JSON file, and import one: the way a course shares a set between servers.

The file holds the set's name and its atlas ids in order, nothing about people::

    {"format": "mirage-study-set", "version": 1, "name": "Week 3 chest", "items": ["ROCO_00020", …]}

An import is checked before anything is written: at most IMPORT_MAX_BYTES, UTF-8 JSON of that shape, a
version this code reads, a name the server does not have yet; ids not in the atlas are named and left out.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from typing import Any

import discord

from ...engine_client import EngineError
from ...errors import say_privately
from ...render import sets as render
from ...render.text import friendly_error
from ...set_requests import SetExport, SetImport
from ...store import sets
from ...store.sets import SET_ITEMS_MAX, SetError
from ..context import Context
from .access import find_or_say, is_teacher, refuse_unless_member
from .atlas import in_atlas

FORMAT = "mirage-study-set"
VERSION = 1
IMPORT_MAX_BYTES = 64 * 1024  # fifty ids and a name take about 1 KB; anything much bigger is not a set


@dataclass(frozen=True)
class SetFile:
    """A set as a file holds it."""

    name: str
    items: list[str]


def to_json(name: str, items: list[str]) -> bytes:
    """The export file's bytes."""
    body = {"format": FORMAT, "version": VERSION, "name": name, "items": items}
    return (json.dumps(body, ensure_ascii=False, indent=1) + "\n").encode()


def parse(data: bytes) -> SetFile:
    """The set in an import file; `ValueError` saying what is wrong with it (fit to show a teacher)."""
    if len(data) > IMPORT_MAX_BYTES:
        raise ValueError(f"it is {len(data) / 1024:.0f} KB; a set file is at most {IMPORT_MAX_BYTES // 1024} KB")
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("it is not a JSON file (export one with `/mirage set export`)") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ValueError(f'it is JSON but not a MIRAGE study set (no "format": "{FORMAT}")')
    version = body.get("version")
    if version != VERSION:
        raise ValueError(f"it is a set file of version {version!r}; this MIRAGE reads version {VERSION}")
    name, items = body.get("name"), body.get("items")
    if not isinstance(name, str) or not name.strip():
        raise ValueError('its "name" is missing or not text')
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError('its "items" is not a list of atlas ids')
    return SetFile(name, list(dict.fromkeys(i.strip() for i in items if i.strip())))


def file_name(title: str) -> str:
    """`week-3-chest.mirage-set.json`."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.casefold()).strip("-")[:60] or "set"
    return f"{slug}.mirage-set.json"


async def export(interaction: discord.Interaction[Any], ctx: Context, request: SetExport) -> None:
    """The set as a file, privately."""
    if await refuse_unless_member(interaction):
        return
    assert ctx.db is not None
    async with ctx.db.session() as session:
        study_set = await find_or_say(interaction, session, request.name)
        if study_set is None:
            return
        title, items = study_set.title, await sets.set_items(session, study_set.id)
    attachment = discord.File(io.BytesIO(to_json(title, items)), file_name(title))
    await interaction.response.send_message(render.exported(title, len(items)), file=attachment, ephemeral=True)


async def import_(interaction: discord.Interaction[Any], ctx: Context, request: SetImport) -> None:
    """A new set from a file, owned by the teacher importing it."""
    if await refuse_unless_member(interaction):
        return
    if not is_teacher(interaction, ctx.settings):
        await say_privately(interaction, render.NOT_A_TEACHER)
        return
    attachment = request.attachment
    if attachment.size > IMPORT_MAX_BYTES:  # refused before reading it
        await say_privately(interaction, render.import_refused(
            f"it is {attachment.size / 1024:.0f} KB; a set file is at most {IMPORT_MAX_BYTES // 1024} KB"))
        return
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        loaded = parse(await attachment.read())
        present, missing = await in_atlas(ctx.engine, loaded.items)
    except ValueError as error:
        await say_privately(interaction, render.import_refused(str(error)))
        return
    except (EngineError, discord.HTTPException) as error:
        why = friendly_error(error) if isinstance(error, EngineError) else "I could not download the file"
        await say_privately(interaction, f"❌ {why}. Nothing was changed.")
        return
    assert ctx.db is not None and interaction.guild_id is not None
    try:
        async with ctx.db.session() as session:
            made = await sets.create_set(
                session, guild_id=interaction.guild_id, title=request.name or loaded.name, owner_id=interaction.user.id
            )
            result = await sets.add_items(session, made, present)
            text = render.added(
                made.title, added=result.added, already=result.already, missing=missing,
                over_limit=result.over_limit, size=len(result.added), limit=SET_ITEMS_MAX,
            )
    except SetError as error:
        await say_privately(interaction, render.import_refused(f"{error} (give it another with `name:`)"))
        return
    await say_privately(interaction, f"📥 Imported.\n{text}")
