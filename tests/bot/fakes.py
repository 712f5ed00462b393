"""Discord, faked only at the edge: interactions, channels, threads and messages that record what the
bot would have shown (content, embeds, files decoded with Pillow, buttons, edits)."""

from __future__ import annotations

import io
import itertools
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import discord
from PIL import Image

_ids = itertools.count(1000)

ALL_NEEDED = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    attach_files=True,
    embed_links=True,
    read_message_history=True,
)


def forbidden(message: str = "Missing Permissions") -> discord.Forbidden:
    """The exception discord.py raises on a 403."""
    return discord.Forbidden(
        SimpleNamespace(status=403, reason="Forbidden"), {"code": 50013, "message": message}
    )


def http_error(status: int, message: str = "error") -> discord.HTTPException:
    """The exception discord.py raises on another HTTP failure."""
    return discord.HTTPException(SimpleNamespace(status=status, reason="x"), {"code": 0, "message": message})


@dataclass
class SentFile:
    """An attachment as Discord would receive it."""

    filename: str
    data: bytes
    description: str | None

    @property
    def image(self) -> Image.Image:
        """The attachment decoded by Pillow (fails the test if it is not an image)."""
        image = Image.open(io.BytesIO(self.data))
        image.load()
        return image


@dataclass
class FakeMessage:
    """A message that was sent; later edits update it and are recorded."""

    channel: Any
    content: str = ""
    embeds: list[discord.Embed] = field(default_factory=list)
    files: list[SentFile] = field(default_factory=list)
    view: discord.ui.View | None = None
    ephemeral: bool = False
    edits: list[dict[str, Any]] = field(default_factory=list)
    edit_times: list[float] = field(default_factory=list)
    id: int = field(default_factory=lambda: next(_ids))

    def __post_init__(self) -> None:
        self.content_history = [self.content]  # every text this message showed, in order

    async def edit(self, **kwargs: Any) -> FakeMessage:
        self.edits.append(kwargs)
        self.edit_times.append(time.monotonic())
        if "content" in kwargs:
            self.content = kwargs["content"]
            self.content_history.append(self.content)
        if "view" in kwargs:
            self.view = kwargs["view"]
        return self

    async def delete(self) -> None:
        """Gone from its channel, as Discord's delete leaves it (`deleted` stays for the test to see)."""
        self.deleted = True
        messages = getattr(self.channel, "messages", None)
        if messages is not None and self in messages:
            messages.remove(self)
            self.channel.deleted = [*getattr(self.channel, "deleted", []), self]

    async def create_thread(self, *, name: str, auto_archive_duration: int | None = None) -> FakeThread:
        if self.channel.refuse_threads:
            raise forbidden()
        thread = FakeThread(name=name, parent=self.channel)
        self.channel.threads.append(thread)
        return thread

    @property
    def custom_ids(self) -> list[str]:
        """The custom ids of the buttons on this message."""
        return [item.custom_id for item in self.view.children] if self.view else []  # type: ignore[attr-defined]

    @property
    def button_labels(self) -> list[str]:
        return [item.item.label for item in self.view.children] if self.view else []  # type: ignore[attr-defined]


def _record(channel: Any, content: str | None, kwargs: dict[str, Any]) -> FakeMessage:
    attached = kwargs.get("files") or ([kwargs["file"]] if kwargs.get("file") is not None else [])
    files = [SentFile(f.filename, f.fp.read(), f.description) for f in attached]
    embeds = [kwargs["embed"]] if kwargs.get("embed") is not None else list(kwargs.get("embeds") or [])
    message = FakeMessage(
        channel, content or "", embeds, files, kwargs.get("view"), ephemeral=bool(kwargs.get("ephemeral"))
    )
    channel.messages.append(message)
    return message


class FakeChannel:
    """A text channel: records sends; can refuse threads, files or messages like missing permissions do."""

    type = discord.ChannelType.text

    def __init__(
        self, *, refuse_threads: bool = False, refuse_files: bool = False, refuse_all: bool = False
    ) -> None:
        self.id = next(_ids)
        self.parent_id: int | None = None
        self.messages: list[FakeMessage] = []
        self.threads: list[FakeThread] = []
        self.refuse_threads = refuse_threads
        self.refuse_files = refuse_files
        self.refuse_all = refuse_all

    async def send(self, content: str | None = None, **kwargs: Any) -> FakeMessage:
        if self.refuse_all or (self.refuse_files and (kwargs.get("files") or kwargs.get("file"))):
            raise forbidden()
        return _record(self, content, kwargs)

    def get_partial_message(self, message_id: int) -> FakeMessage:
        """A message sent here, by id (to edit it, as `PartialMessageable.get_partial_message` does)."""
        return next(m for m in self.messages if m.id == message_id)

    @property
    def text(self) -> str:
        """Everything posted here (current content of each message), joined."""
        return "\n".join(m.content for m in self.messages)


class FakeThread(FakeChannel):
    """A public thread on a message."""

    type = discord.ChannelType.public_thread

    def __init__(self, *, name: str, parent: FakeChannel) -> None:
        super().__init__(refuse_files=parent.refuse_files)
        self.name = name
        self.parent_id = parent.id


class FakeResponse:
    """`interaction.response`: records defer and direct replies."""

    def __init__(self, interaction: FakeInteraction) -> None:
        self._interaction = interaction
        self.deferred = False
        self.thinking = False
        self.sent: list[FakeMessage] = []
        self.modal: Any = None

    def is_done(self) -> bool:
        return self.deferred or bool(self.sent) or self.modal is not None

    async def send_modal(self, modal: Any) -> None:
        # Discord accepts a modal only as the first response to an interaction.
        assert not self.is_done(), "a modal must be the first response (never after a defer)"
        self.modal = modal

    async def defer(self, *, thinking: bool = False, ephemeral: bool = False) -> None:
        assert not self.is_done(), "interaction acknowledged twice"
        self.deferred, self.thinking = True, thinking
        # the "is thinking…" message that becomes the original response
        self._interaction.original = _record(self._interaction.channel, "", {})

    async def send_message(self, content: str | None = None, **kwargs: Any) -> None:
        assert not self.is_done(), "interaction acknowledged twice"
        message = FakeMessage(
            self._interaction.channel, content or "", ephemeral=bool(kwargs.get("ephemeral"))
        )
        self.sent.append(message)


class FakeFollowup:
    """`interaction.followup`: the interaction's webhook."""

    def __init__(self) -> None:
        self.messages: list[FakeMessage] = []
        self.refuse_files = False

    async def send(self, content: str | None = None, **kwargs: Any) -> FakeMessage:
        kwargs.pop("wait", None)
        return _record(self, content, kwargs)


@dataclass
class FakeUser:
    id: int
    roles: list[Any] = field(default_factory=list)
    bot: bool = False

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


class FakeClient:
    def __init__(self, services: Any) -> None:
        self.services = services
        self.user = FakeUser(4242)


class FakeInteraction:
    """The parts of `discord.Interaction` the bot uses, recording everything."""

    def __init__(
        self,
        services: Any,
        *,
        user_id: int = 1,
        roles: tuple[int, ...] = (),
        channel: FakeChannel | None = None,
        permissions: discord.Permissions = ALL_NEEDED,
        filesize_limit: int = 10 * 2**20,
        message: FakeMessage | None = None,
        guild_id: int | None = 900,  # None: a direct message with the bot
    ) -> None:
        self.client = FakeClient(services)
        self.guild_id = guild_id
        self.user = FakeUser(user_id, [SimpleNamespace(id=r) for r in roles])
        self.channel = channel if channel is not None else FakeChannel()
        self.channel_id = self.channel.id
        self.app_permissions = permissions
        self.filesize_limit = filesize_limit
        self.message = message
        self.response = FakeResponse(self)
        self.followup = FakeFollowup()
        self.original: FakeMessage | None = None
        self.command = None
        self.data: dict[str, Any] = {}

    async def edit_original_response(self, **kwargs: Any) -> FakeMessage:
        assert self.original is not None, "edited the original response before deferring"
        return await self.original.edit(**kwargs)

    async def original_response(self) -> FakeMessage:
        assert self.original is not None
        return self.original

    # --- what the user sees ---------------------------------------------------------------
    @property
    def ephemeral_text(self) -> str:
        return "\n".join(m.content for m in [*self.response.sent, *self.followup.messages] if m.ephemeral)

    @property
    def thread(self) -> FakeThread:
        (thread,) = self.channel.threads
        return thread

    @property
    def answer_place(self) -> FakeChannel:
        """Where the answer went: the new thread, or the channel itself when there is none."""
        return self.channel.threads[0] if self.channel.threads else self.channel


class FakePost:
    """A message a user posted in a channel or thread (what on_message receives)."""

    def __init__(self, channel: FakeChannel, content: str, *, author_id: int = 1, mentions: tuple[Any, ...] = ()) -> None:
        self.channel = channel
        self.content = content
        self.author = FakeUser(author_id)
        self.mentions = list(mentions)
        self.id = next(_ids)

    async def reply(self, content: str | None = None, **kwargs: Any) -> FakeMessage:
        kwargs.pop("mention_author", None)
        return await self.channel.send(content, **kwargs)


class FakeAttachment:
    """A user's uploaded file (`discord.Attachment`)."""

    def __init__(
        self, data: bytes, *, filename: str = "scan.png", content_type: str | None = "image/png"
    ) -> None:
        self._data = data
        self.filename = filename
        self.content_type = content_type
        self.size = len(data)

    async def read(self) -> bytes:
        return self._data


async def wait_until(condition: Any, timeout: float = 5.0) -> None:
    """Poll `condition()` until true (fails the test after `timeout` seconds)."""
    import asyncio

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
