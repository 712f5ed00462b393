"""The stand-in's Discord: one application and bot user, one guild with a text channel, its members,
messages (with stored file bytes, served from a CDN route), and threads started from messages."""

from __future__ import annotations

import io
import re
import time
from typing import Any

from . import payloads as P
from .ids import SnowflakeFactory, iso_now
from .records import MessageRecord, UploadedFile


class DiscordError(Exception):
    """A Discord JSON error to answer with (status, code, message, optional field errors)."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message, self.errors = status, code, message, errors


def unknown_channel() -> DiscordError:
    return DiscordError(404, 10003, "Unknown Channel")


def unknown_message() -> DiscordError:
    return DiscordError(404, 10008, "Unknown Message")


def missing_permissions() -> DiscordError:
    return DiscordError(403, 50013, "Missing Permissions")


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:
        return None


class World:
    """State shared by the REST routes, the gateway and the test helpers."""

    def __init__(self, *, guild_name: str, channel_name: str) -> None:
        self.snowflakes = SnowflakeFactory()
        self.base_url = ""  # set once the server listens
        self.app_id = self.snowflakes.next()
        self.bot_user = P.user(self.snowflakes.next(), "mirage-standin-bot", bot=True)
        self.owner = P.user(self.snowflakes.next(), "guild-owner")
        self.guild_id = self.snowflakes.next()
        self.guild_name = guild_name
        self.channel_id = self.snowflakes.next()
        self.bot_role_id = self.snowflakes.next()
        self.member_permissions = P.permission_value(P.MEMBER_PERMISSIONS)
        self.bot_permissions = P.permission_value(P.BOT_PERMISSIONS)
        self.channels: dict[int, dict[str, Any]] = {
            self.channel_id: P.text_channel(self.channel_id, self.guild_id, channel_name)
        }
        self.users: dict[str, dict[str, Any]] = {}
        self.messages: dict[int, MessageRecord] = {}
        self._by_channel: dict[int, list[MessageRecord]] = {}  # channel id → its messages, oldest first
        self.cdn: dict[int, UploadedFile] = {}
        self.thread_of_message: dict[int, int] = {}

    # --- identities ------------------------------------------------------------------
    @property
    def bot_user_id(self) -> int:
        return int(self.bot_user["id"])

    def user(self, name: str) -> dict[str, Any]:
        """The simulated guild member called `name` (created on first use, same id afterwards)."""
        if name not in self.users:
            self.users[name] = P.user(self.snowflakes.next(), name)
        return self.users[name]

    def member_of(self, user_obj: dict[str, Any]) -> dict[str, Any]:
        """The member object of a simulated user, with interaction permissions."""
        return P.member(user_obj, [], permissions=self.member_permissions)

    def application(self) -> dict[str, Any]:
        """GET /oauth2/applications/@me."""
        return {
            "id": str(self.app_id),
            "name": "Mirage (stand-in)",
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": self.owner,
            "team": None,
            "flags": 1 << 23,  # GATEWAY_MESSAGE_CONTENT_LIMITED
            "bot": self.bot_user,
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": 1,
        }

    def roles(self) -> list[dict[str, Any]]:
        return [
            P.role(self.guild_id, "@everyone", self.member_permissions, 0),
            P.role(self.bot_role_id, "Mirage", self.bot_permissions, 1),
        ]

    def guild_payload(self) -> dict[str, Any]:
        """GUILD_CREATE for the one guild (threads included, so a resumed or re-identified bot sees them)."""
        texts = [c for c in self.channels.values() if c["type"] == P.CHANNEL_TEXT]
        threads = [c for c in self.channels.values() if c["type"] == P.CHANNEL_PUBLIC_THREAD]
        bot_member = P.member(self.bot_user, [self.bot_role_id])
        return P.guild(
            self.guild_id, self.guild_name, int(self.owner["id"]), self.roles(), texts, [bot_member], threads
        )

    def has_permission(self, name: str) -> bool:
        return bool(self.bot_permissions & P.PERMISSIONS[name])

    # --- channels and threads ----------------------------------------------------------
    def channel(self, channel_id: int) -> dict[str, Any]:
        """A channel or thread payload, or 404 Unknown Channel."""
        if channel_id not in self.channels:
            raise unknown_channel()
        return self.channels[channel_id]

    def dm_channel(self, user_name: str) -> int:
        """The id of the direct-message channel between the bot and `user_name` (opened on first use)."""
        user_obj = self.user(user_name)
        for channel in self.channels.values():
            if channel["type"] == P.CHANNEL_DM and channel["recipients"][0]["id"] == user_obj["id"]:
                return int(channel["id"])
        channel_id = self.snowflakes.next()
        self.channels[channel_id] = P.dm_channel(channel_id, user_obj)
        return channel_id

    def guild_of(self, channel_id: int) -> int | None:
        """The guild a channel belongs to; None for a direct message."""
        return None if self.channel(channel_id)["type"] == P.CHANNEL_DM else self.guild_id

    def threads(self) -> list[dict[str, Any]]:
        """Every thread, oldest first."""
        return [c for c in self.channels.values() if c["type"] == P.CHANNEL_PUBLIC_THREAD]

    def start_thread(self, channel_id: int, message_id: int, name: str, auto_archive: int) -> dict[str, Any]:
        """A public thread from a message; like Discord, the thread's id is the message's id."""
        parent = self.channel(channel_id)
        if parent["type"] != P.CHANNEL_TEXT:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        record = self.messages.get(message_id)
        if record is None or record.deleted or record.channel_id != channel_id:
            raise unknown_message()
        if record.ephemeral:
            raise DiscordError(400, 50083, "Cannot create a thread from an ephemeral message")
        if message_id in self.thread_of_message:
            raise DiscordError(400, 160004, "A thread has already been created for this message")
        if not self.has_permission("create_public_threads"):
            raise missing_permissions()
        if not 1 <= len(name or "") <= 100:
            raise DiscordError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "name": {
                        "_errors": [
                            {
                                "code": "BASE_TYPE_BAD_LENGTH",
                                "message": "Must be between 1 and 100 in length.",
                            }
                        ]
                    }
                },
            )
        thread = P.thread(message_id, self.guild_id, channel_id, self.bot_user_id, name, auto_archive or 1440)
        self.channels[message_id] = thread
        self.thread_of_message[message_id] = message_id
        record.payload["thread"] = thread
        return thread

    # --- messages ------------------------------------------------------------------------
    def store_files(self, channel_id: int, files: list[UploadedFile]) -> list[dict[str, Any]]:
        """Give new uploads attachment ids and CDN urls; returns their attachment objects."""
        out = []
        for f in files:
            f.filename = re.sub(r"\s+", "_", f.filename)
            f.attachment_id = self.snowflakes.next()
            self.cdn[f.attachment_id] = f
            size = _image_size(f.data) if f.content_type.startswith("image/") else None
            url = f"{self.base_url}/cdn/attachments/{channel_id}/{f.attachment_id}/{f.filename}?ex=0&is=0&hm=standin"
            out.append(
                P.attachment(
                    f.attachment_id,
                    f.filename,
                    f.size,
                    url,
                    f.content_type,
                    description=f.description,
                    width=size and size[0],
                    height=size and size[1],
                )
            )
        return out

    def create_message(
        self,
        channel_id: int,
        body: dict[str, Any],
        files: list[UploadedFile],
        *,
        source: str,
        interaction: dict[str, Any] | None = None,
        message_type: int = P.MESSAGE_DEFAULT,
    ) -> MessageRecord:
        """Store a message the bot sent (`source`: 'channel', 'interaction' or 'webhook')."""
        channel = self.channel(channel_id)
        if source == "channel":
            in_thread = channel["type"] == P.CHANNEL_PUBLIC_THREAD
            needed = "send_messages_in_threads" if in_thread else "send_messages"
            if not self.has_permission(needed) or (files and not self.has_permission("attach_files")):
                raise missing_permissions()
        attachments = self.store_files(channel_id, files)
        data = P.message(
            self.snowflakes.next(),
            channel_id,
            self.guild_of(channel_id),
            self.bot_user,
            body,
            attachments,
            message_type=message_type,
            webhook_id=self.app_id if source != "channel" else None,
            interaction=interaction,
        )
        record = MessageRecord(
            data, list(files), source, interaction_id=interaction and int(interaction["id"])
        )
        self.messages[record.id] = record
        self._by_channel.setdefault(record.channel_id, []).append(record)
        channel["last_message_id"] = str(record.id)
        if channel["type"] == P.CHANNEL_PUBLIC_THREAD:
            channel["message_count"] += 1
            channel["total_message_sent"] += 1
        return record

    def user_message(self, channel_id: int, user_name: str, content: str, mentions: list[dict[str, Any]]) -> MessageRecord:
        """Store a message a user posted (as Discord's client would send it: text and mentions)."""
        author = self.user(user_name)
        data = P.message(self.snowflakes.next(), channel_id, self.guild_id, author, {"content": content}, [])
        data["mentions"] = mentions
        data["member"] = {k: v for k, v in self.member_of(author).items() if k != "user"}
        record = MessageRecord(data, [], "user")
        self.messages[record.id] = record
        self._by_channel.setdefault(record.channel_id, []).append(record)
        channel = self.channel(channel_id)
        channel["last_message_id"] = str(record.id)
        if channel["type"] == P.CHANNEL_PUBLIC_THREAD:
            channel["message_count"] += 1
            channel["total_message_sent"] += 1
        return record

    def message(self, channel_id: int | None, message_id: int) -> MessageRecord:
        """A live message (in `channel_id` when given), or 404 Unknown Message."""
        record = self.messages.get(message_id)
        if record is None or record.deleted or (channel_id is not None and record.channel_id != channel_id):
            raise unknown_message()
        return record

    def edit_message(
        self, record: MessageRecord, body: dict[str, Any], files: list[UploadedFile]
    ) -> MessageRecord:
        """Apply an edit: replaced fields, kept/removed attachments (the `attachments` list), new files."""
        record.edits.append({**body, "_files": [f.filename for f in files], "_at": time.monotonic()})
        for key in ("content", "embeds", "components", "allowed_mentions"):
            if key in body:
                record.payload[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
        if "flags" in body and body["flags"] is not None:
            keep = record.flags & (P.FLAG_EPHEMERAL)
            record.payload["flags"] = (int(body["flags"]) & ~P.FLAG_LOADING) | keep
        else:
            record.payload["flags"] = record.flags & ~P.FLAG_LOADING
        new_attachments = self.store_files(record.channel_id, files)
        if "attachments" in body and body["attachments"] is not None:
            kept_ids = {str(a.get("id")) for a in body["attachments"]}
            kept = [a for a in record.payload["attachments"] if a["id"] in kept_ids]
            record.files = [f for f in record.files if str(f.attachment_id) in kept_ids]
        else:
            kept = record.payload["attachments"]
        record.payload["attachments"] = kept + new_attachments
        record.files = record.files + list(files)
        record.payload["edited_timestamp"] = iso_now()
        return record

    def messages_in(self, channel_id: int) -> list[MessageRecord]:
        """Live messages of a channel or thread, oldest first."""
        # indexed by channel: a load run with thousands of threads asks this for each of them
        return [m for m in self._by_channel.get(channel_id, ()) if not m.deleted]
