"""Study sets at the flow level (the bot's services, a real SQLite database, the engine stand-in): who may
build, change and play a set, and the bad inputs the e2e test does not reach — a DM, a non-member, another
server, a role from MIRAGE_SET_EDITOR_ROLES, an empty set, a file of another version. Each answer is
private and a refusal changes nothing. Plus the export file's format and the engine notes' parsing."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import discord
import pytest
from discord import app_commands

from bot.flows.sets.play import left_out_by_engine
from bot.flows.sets.share import IMPORT_MAX_BYTES, parse, to_json
from bot.services import Services
from bot.set_requests import SetAdd, SetCreate, SetDelete, SetImport, SetList, SetPlay, SetRemove
from bot.store import sets
from bot.ui.commands import MirageCommands
from bot.ui.set_commands import split_ids

from .fakes import FakeAttachment, FakeInteraction

SERVER, OTHER_SERVER, TEACHER_ROLE = 900, 901, 77
MODERATOR = discord.Permissions(manage_messages=True)
MEMBER = discord.Permissions.none()


def person(services: Services, user_id: int, *, perms: discord.Permissions = MEMBER, **kw: object) -> FakeInteraction:
    interaction = FakeInteraction(services, user_id=user_id, **kw)  # type: ignore[arg-type]
    interaction.permissions = perms  # type: ignore[attr-defined]  # the member's, as Discord resolves them
    return interaction


async def say(services: Services, interaction: FakeInteraction, request: object) -> str:
    await services.handle(interaction, request)  # type: ignore[arg-type]
    return interaction.ephemeral_text


async def test_a_role_from_the_setting_makes_a_teacher_and_a_plain_member_is_refused(make_services):
    services = make_services(set_editor_roles=[TEACHER_ROLE])
    assert "for teachers" in await say(services, person(services, 5), SetCreate("Anatomy"))
    made = await say(services, person(services, 6, roles=(TEACHER_ROLE,)), SetCreate("Anatomy"))
    assert "Made the study set **Anatomy**" in made
    async with services.db.session() as s:
        (listed,) = await sets.server_sets(s, SERVER)
    assert (listed.title, listed.owner_id) == ("Anatomy", 6)


async def test_only_the_owner_or_a_moderator_changes_or_deletes_a_set(make_services):
    services = make_services(set_editor_roles=[TEACHER_ROLE])
    await say(services, person(services, 6, roles=(TEACHER_ROLE,)), SetCreate("Anatomy"))
    await say(services, person(services, 6, roles=(TEACHER_ROLE,)), SetAdd("Anatomy", ("ROCO_00001", "ROCO_00002")))
    colleague = person(services, 7, roles=(TEACHER_ROLE,))
    assert "Only the teacher who made **Anatomy** or a moderator" in await say(
        services, colleague, SetRemove("anatomy", ("ROCO_00001",))
    )
    assert "Only the teacher who made" in await say(services, person(services, 8), SetDelete("Anatomy"))
    async with services.db.session() as s:
        assert await sets.set_items(s, (await sets.find_set(s, SERVER, "Anatomy")).id) == ["ROCO_00001", "ROCO_00002"]
    removed = await say(services, person(services, 9, perms=MODERATOR), SetRemove("Anatomy", ("ROCO_00001", "ROCO_7")))
    assert "Removed 1: `ROCO_00001`" in removed and "Not in the set (nothing to remove): `ROCO_7`" in removed
    assert "Deleted the study set **Anatomy** (1 image)" in await say(
        services, person(services, 9, perms=MODERATOR), SetDelete("Anatomy")
    )


async def test_sets_are_a_servers_not_usable_in_a_dm_by_a_non_member_or_from_another_server(make_services, engine):
    services = make_services()
    await say(services, person(services, 6, perms=MODERATOR), SetCreate("Week 3"))
    await say(services, person(services, 6, perms=MODERATOR), SetAdd("Week 3", ("ROCO_00001",)))
    in_dm = person(services, 5, guild_id=None)
    assert "Study sets belong to a server" in await say(services, in_dm, SetPlay("Week 3"))
    stranger = person(services, 5)
    stranger.user = SimpleNamespace(id=5, mention="<@5>")  # a discord.User: no roles, not a member here
    assert "Only members of this server" in await say(services, stranger, SetPlay("Week 3"))
    elsewhere = person(services, 5, guild_id=OTHER_SERVER)
    assert "This server has no study set named **Week 3**." in await say(services, elsewhere, SetPlay("Week 3"))
    assert "has no study sets yet" in await say(services, person(services, 5, guild_id=OTHER_SERVER), SetList())
    # nothing was played, nothing changed
    assert not [r for r in engine.requests if r["route"] == "/v1/quiz"]
    async with services.db.session() as s:
        assert await sets.set_items(s, (await sets.find_set(s, SERVER, "Week 3")).id) == ["ROCO_00001"]


async def test_an_empty_set_is_not_played(make_services, engine):
    services = make_services()
    await say(services, person(services, 6, perms=MODERATOR), SetCreate("Empty"))
    assert "**Empty** is empty" in await say(services, person(services, 5), SetPlay("empty"))
    assert not [r for r in engine.requests if r["route"] == "/v1/quiz"]


async def test_an_import_of_another_version_is_refused_and_nothing_is_made(make_services):
    services = make_services()
    newer = json.dumps({"format": "mirage-study-set", "version": 2, "name": "X", "items": ["ROCO_00001"]}).encode()
    teacher = person(services, 6, perms=MODERATOR)
    said = await say(services, teacher, SetImport(FakeAttachment(newer, filename="x.json", content_type="application/json")))
    assert "version 2; this MIRAGE reads version 1" in said and "Nothing was changed" in said
    async with services.db.session() as s:
        assert await sets.server_sets(s, SERVER) == []


def test_the_export_file_reads_back_and_bad_files_say_what_is_wrong():
    assert parse(to_json("Week 3 chest", ["ROCO_2", "ROCO_1"])) == parse(
        b'{"format": "mirage-study-set", "version": 1, "name": "Week 3 chest", "items": ["ROCO_2", "ROCO_1", "ROCO_2"]}'
    )
    assert parse(to_json("W", ["ROCO_2", "ROCO_1"])).items == ["ROCO_2", "ROCO_1"]
    for data, why in [
        (b"\xff\xfe not text", "not a JSON file"),
        (b"[1, 2]", "not a MIRAGE study set"),
        (b'{"format": "mirage-study-set", "version": 1, "name": "", "items": []}', '"name" is missing'),
        (b'{"format": "mirage-study-set", "version": 1, "name": "a", "items": [1]}', '"items" is not a list'),
        (b" " * (IMPORT_MAX_BYTES + 1), "at most 64 KB"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse(data)


def test_typed_ids_split_on_spaces_commas_and_backticks_each_once():
    assert split_ids("`ROCO_1`, ROCO_2;ROCO_1\nROCO_3") == ("ROCO_1", "ROCO_2", "ROCO_3")


def test_the_engines_notes_name_the_ids_it_left_out_of_a_set():
    notes = [
        "item_ids: not in the atlas, left out: ROCO_9, ROCO_8",
        "item_ids: captions unfit for a quiz, left out: ROCO_7 (too short (3 words, need 8)), "
        "ROCO_6 (a multi-panel legend (panels A, B))",
        "something else: left out: NOT_THIS",
    ]
    assert left_out_by_engine(notes) == ["ROCO_9", "ROCO_8", "ROCO_7", "ROCO_6"]



def test_a_set_command_in_a_dm_is_told_its_full_name_and_where_it_works(services: Services):
    group = MirageCommands()
    set_group = group.get_command("set")
    assert isinstance(set_group, app_commands.Group)
    in_dm = person(services, 5, guild_id=None)
    in_dm.command = set_group.get_command("play")  # type: ignore[assignment]  # as discord.py sets it
    with pytest.raises(app_commands.CheckFailure, match=r"`/mirage set play` works in a server"):
        asyncio.run(group.interaction_check(in_dm))  # type: ignore[arg-type]
