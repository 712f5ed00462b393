"""A minimal discord.py bot used to check the stand-in against the real, unmodified client library.

It does what MIRAGE's bot does at the Discord edge: syncs a `/mirage` group to the dev guild in
setup_hook, defers, follows up, posts a file in the channel, starts a thread and posts there, reads an
attachment option, and answers a button.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
from typing import Any

import discord
from discord import app_commands
from PIL import Image

log = logging.getLogger(__name__)


def png_bytes(size: int = 32) -> bytes:
    """A size×size PNG of noise (incompressible, so its byte size follows `size`)."""
    buf = io.BytesIO()
    Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)).save(buf, format="PNG")
    return buf.getvalue()


class EchoView(discord.ui.View):
    """One button that answers with a new message."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="More", custom_id="mini:more", style=discord.ButtonStyle.primary)
    async def more(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await interaction.response.send_message(f"more for {interaction.user.name}")


class MiniBot(discord.Client):
    """The test client; `errors` collects exceptions raised while talking to Discord."""

    def __init__(self, guild_id: int, *, ack_delay: float = 0.0, file_size: int = 32) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.2)
        self.tree = app_commands.CommandTree(self)
        self.guild = discord.Object(guild_id)
        self.ack_delay = ack_delay
        self.file_size = file_size
        self.errors: list[BaseException] = []
        self.upload_attempts: list[int] = []
        self._add_commands()

    async def setup_hook(self) -> None:
        self.add_view(EchoView())
        self.tree.copy_global_to(guild=self.guild)
        await self.tree.sync(guild=self.guild)

    def _add_commands(self) -> None:
        group = app_commands.Group(name="mirage", description="Study companion")

        @group.command(name="search", description="Search the atlas")
        @app_commands.describe(query="What to look for", k="How many images")
        async def search(
            interaction: discord.Interaction, query: str, k: app_commands.Range[int, 1, 10] = 4
        ) -> None:
            try:
                await asyncio.sleep(self.ack_delay)
                await interaction.response.defer(thinking=True)
                await interaction.followup.send(f"Results for {query} (k={k})")
                channel = interaction.channel
                assert isinstance(channel, discord.TextChannel)
                starter = await self._send_shrinking(channel, f"<@{interaction.user.id}> {query}")
                thread = await starter.create_thread(name=f"{query}"[:100])
                await thread.send(
                    "Sources: ROCO_00001",
                    file=discord.File(io.BytesIO(png_bytes()), "hit.png"),
                    view=EchoView(),
                )
            except Exception as exc:  # recorded for the test to assert on
                log.exception("mini bot failed")
                self.errors.append(exc)

        @group.command(name="image", description="Search by image")
        async def image(interaction: discord.Interaction, picture: discord.Attachment) -> None:
            data = await picture.read()
            digest = hashlib.sha256(data).hexdigest()[:16]
            await interaction.response.send_message(
                f"got {picture.filename} {len(data)} bytes sha {digest} {picture.width}x{picture.height}"
            )

        self.tree.add_command(group)

    async def _send_shrinking(self, channel: discord.TextChannel, content: str) -> discord.Message:
        """Send a PNG; on 413 halve it and retry, as the real bot must."""
        size = self.file_size
        while True:
            data = png_bytes(size)
            self.upload_attempts.append(len(data))
            try:
                return await channel.send(content, file=discord.File(io.BytesIO(data), "answer.png"))
            except discord.HTTPException as exc:
                if exc.status != 413 or size <= 8:
                    raise
                size //= 2
