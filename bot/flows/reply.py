"""Where a job's answer goes: a thread on the command's message, else the channel, else a followup.

Missing permissions are checked up front (`interaction.app_permissions`) and again when Discord
refuses (403): the answer still arrives, without the thread or without files, and says why.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from typing import Any

import discord

from ..render.images import MESSAGE_MAX_CHARS, ImageFile, fit_images, split_text
from ..threads import is_thread

log = logging.getLogger(__name__)

NO_THREAD_NOTE = (
    "ℹ️ I couldn't open a thread here (the bot needs the *Create Public Threads* and *Send Messages in "
    "Threads* permissions), so I'm answering in the channel."
)
NO_FILES_NOTE = (
    "ℹ️ I can't attach images here (the bot needs the *Attach Files* permission), so only the sources "
    "are listed. Ask a server admin to grant it."
)
NO_MENTIONS = discord.AllowedMentions.none()


class Reply:
    """Sends a job's messages to the best place the bot is allowed to post in."""

    def __init__(
        self, interaction: discord.Interaction | None, target: Any | None, *, can_attach: bool
    ) -> None:
        self.interaction = interaction  # None for a reply to a message (an @mention): then target is set
        self.target = target  # a thread or channel; None = the interaction's followup webhook
        self.can_attach = can_attach
        self.can_embed = True
        self.upload_limit: int = getattr(
            interaction, "filesize_limit", discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
        )
        self._notes: list[str] = []

    @classmethod
    def in_thread(cls, thread: Any) -> Reply:
        """Answer in `thread` itself, without an interaction (e.g. to an @mention there)."""
        return cls(None, thread, can_attach=True)

    @classmethod
    async def open(cls, interaction: discord.Interaction, thread_name: str) -> Reply:
        """Open the place to answer in: the current thread, a new thread on the command's message, or fallbacks."""
        perms = interaction.app_permissions
        channel = interaction.channel
        notes: list[str] = []
        target: Any | None = None
        if channel is not None and is_thread(channel):
            target = channel if perms.send_messages_in_threads else None
        else:
            if perms.create_public_threads and perms.send_messages_in_threads:
                try:
                    message = await interaction.original_response()
                    target = await message.create_thread(name=thread_name, auto_archive_duration=1440)
                except (discord.HTTPException, ValueError):  # ValueError: a message without guild info
                    log.warning("could not create a thread; answering in the channel", exc_info=True)
            if target is None:
                notes.append(NO_THREAD_NOTE)
                target = channel if channel is not None and perms.send_messages else None
        reply = cls(interaction, target, can_attach=perms.attach_files)
        reply.can_embed = perms.embed_links
        if not reply.can_attach:
            notes.append(NO_FILES_NOTE)
        reply._notes = notes
        return reply

    async def send(
        self,
        content: str,
        *,
        embed: discord.Embed | None = None,
        files: Sequence[ImageFile] = (),
        view: discord.ui.View | None = None,
        notes: bool = True,
    ) -> Any:
        """Send `content` (split at 2,000 characters); the embed goes on the first part, files and view on the last.

        Pending notes (no thread, no files) go first unless `notes` is False (e.g. for a status line).
        """
        if notes and self._notes:
            content = "\n".join([*self._notes, content])
            self._notes = []
        chunks = split_text(content, MESSAGE_MAX_CHARS) or ["\u200b"]
        message = None
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            message = await self._post(
                chunk,
                embed=embed if i == 0 else None,
                files=files if last else (),
                view=view if last else None,
            )
        return message

    async def _post(
        self,
        content: str,
        *,
        embed: discord.Embed | None,
        files: Sequence[ImageFile],
        view: discord.ui.View | None,
    ) -> Any:
        files = list(files) if self.can_attach else []
        refitted = False
        while True:
            kwargs: dict[str, Any] = {"content": content, "allowed_mentions": NO_MENTIONS}
            if embed is not None:
                kwargs["embed"] = embed
            if files:
                kwargs["files"] = [_to_discord(f) for f in files]
            if view is not None:
                kwargs["view"] = view
            try:
                return await self._deliver(**kwargs)
            except discord.Forbidden:
                if files:
                    log.warning("Discord refused the files; sending without them")
                    self.can_attach, files = False, []
                    content = f"{NO_FILES_NOTE}\n{content}"[:MESSAGE_MAX_CHARS]
                elif self.target is not None and self.interaction is not None:
                    log.warning(
                        "Discord refused a message in %r; using the interaction followup", self.target
                    )
                    self.target = None
                else:
                    raise
            except discord.HTTPException as error:
                if error.status != 413 or not files or refitted:
                    raise
                log.warning("upload too large; recompressing to half the limit")
                files = await asyncio.to_thread(_refit, files, self.upload_limit // 2)  # CPU work off the loop
                refitted = True

    async def _deliver(self, **kwargs: Any) -> Any:
        if self.target is not None:
            return await self.target.send(**kwargs)
        assert self.interaction is not None  # a Reply has a target or an interaction
        return await self.interaction.followup.send(wait=True, **kwargs)


def _to_discord(file: ImageFile) -> discord.File:
    return discord.File(io.BytesIO(file.data), filename=file.filename, description=file.description)


def _refit(files: Sequence[ImageFile], limit: int) -> list[ImageFile]:
    stems = [(f.filename.rsplit(".", 1)[0], f.data, f.description) for f in files]
    return [f for f in fit_images(stems, limit) if f is not None]
