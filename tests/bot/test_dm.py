"""`/mirage` in a direct message with the bot: Discord applies contexts to the whole group, so the group
allows DMs; there the solo quiz, review, progress, forget-me and help answer, and the server-only
subcommands say where to use them. A server's channel and role limits still hold in the server."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.render.text import HELP_TEXT
from bot.ui.commands import DM_COMMANDS, MirageCommands

from .conftest import invoke
from .fakes import FakeInteraction


def test_the_group_is_offered_in_servers_and_in_dms_with_the_bot_not_in_group_dms():
    tree = app_commands.CommandTree(discord.Client(intents=discord.Intents.none()))
    synced = MirageCommands().to_dict(tree)
    assert synced["contexts"] == [0, 1] and synced["dm_permission"] is True


async def test_server_only_commands_in_a_dm_say_where_to_use_them_and_reach_no_engine(engine, services):
    for name, options in [
        ("search", {"query": "pneumothorax"}),
        ("compare", {"base": "left effusion", "subtract": "left", "add": "right"}),
        ("generate", {"prompt": "axial CT"}),
        ("ask", {"question": "why is air dark?"}),
    ]:
        interaction = FakeInteraction(services, guild_id=None)
        await invoke(services, name, interaction, **options)
        said = interaction.ephemeral_text
        assert f"`/mirage {name}` works in a server" in said, said
        assert all(f"`/mirage {dm}`" in said for dm in DM_COMMANDS)
        assert not interaction.channel.threads and not interaction.channel.messages
    assert engine.requests == []


async def test_help_answers_in_a_dm_even_where_the_server_limits_the_channels(engine, make_services):
    services = make_services(allowed_channel_ids=[12345], allowed_role_ids=[777])
    in_dm = FakeInteraction(services, guild_id=None)
    await invoke(services, "help", in_dm)
    assert in_dm.ephemeral_text == HELP_TEXT
    in_server = FakeInteraction(services)  # a channel that is not allowed, without the role
    await invoke(services, "help", in_server)
    assert "not enabled in this channel" in in_server.ephemeral_text

