"""Discord API v10 JSON objects (users, guild, channels, threads, messages, interactions) as Discord sends them."""

from __future__ import annotations

from typing import Any

from .ids import iso_now

# Permission bits (Discord's documented values).
PERMISSIONS = {
    "add_reactions": 1 << 6,
    "view_channel": 1 << 10,
    "send_messages": 1 << 11,
    "manage_messages": 1 << 13,
    "embed_links": 1 << 14,
    "attach_files": 1 << 15,
    "read_message_history": 1 << 16,
    "use_external_emojis": 1 << 18,
    "use_application_commands": 1 << 31,
    "manage_threads": 1 << 34,
    "create_public_threads": 1 << 35,
    "send_messages_in_threads": 1 << 38,
}
MEMBER_PERMISSIONS = (
    "view_channel",
    "send_messages",
    "read_message_history",
    "add_reactions",
    "embed_links",
    "attach_files",
    "use_application_commands",
    "create_public_threads",
    "send_messages_in_threads",
)
BOT_PERMISSIONS = (*MEMBER_PERMISSIONS, "manage_threads", "manage_messages", "use_external_emojis")

CHANNEL_TEXT, CHANNEL_DM, CHANNEL_PUBLIC_THREAD = 0, 1, 11
MESSAGE_DEFAULT, MESSAGE_CHAT_INPUT_COMMAND = 0, 20
FLAG_EPHEMERAL, FLAG_LOADING = 64, 128


def permission_value(names: tuple[str, ...] | list[str]) -> int:
    """The permission integer for these names; raises ValueError naming an unknown one."""
    value = 0
    for name in names:
        if name not in PERMISSIONS:
            raise ValueError(f"unknown permission {name!r}; known: {sorted(PERMISSIONS)}")
        value |= PERMISSIONS[name]
    return value


def user(user_id: int, username: str, *, bot: bool = False) -> dict[str, Any]:
    """A user object."""
    return {
        "id": str(user_id),
        "username": username,
        "global_name": None if bot else username.title(),
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
        "system": False,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
    }


def member(user_obj: dict[str, Any], roles: list[int], *, permissions: int | None = None) -> dict[str, Any]:
    """A guild member object (`permissions` is only present in interaction payloads)."""
    data: dict[str, Any] = {
        "user": user_obj,
        "nick": None,
        "avatar": None,
        "banner": None,
        "roles": [str(r) for r in roles],
        "joined_at": iso_now(),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
    }
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def role(role_id: int, name: str, permissions: int, position: int) -> dict[str, Any]:
    """A role object."""
    return {
        "id": str(role_id),
        "name": name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(permissions),
        "managed": name != "@everyone",
        "mentionable": False,
        "flags": 0,
    }


def text_channel(channel_id: int, guild_id: int, name: str, position: int = 0) -> dict[str, Any]:
    """A guild text channel object."""
    return {
        "id": str(channel_id),
        "type": CHANNEL_TEXT,
        "guild_id": str(guild_id),
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "topic": "Study group",
        "nsfw": False,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "parent_id": None,
        "default_auto_archive_duration": 1440,
        "flags": 0,
    }


def dm_channel(channel_id: int, recipient: dict[str, Any]) -> dict[str, Any]:
    """A direct-message channel between the bot and one user (no guild)."""
    return {"id": str(channel_id), "type": CHANNEL_DM, "last_message_id": None, "recipients": [recipient], "flags": 0}


def thread(
    thread_id: int, guild_id: int, parent_id: int, owner_id: int, name: str, auto_archive_duration: int
) -> dict[str, Any]:
    """A public thread channel object (as returned when the bot starts one)."""
    now = iso_now()
    return {
        "id": str(thread_id),
        "type": CHANNEL_PUBLIC_THREAD,
        "guild_id": str(guild_id),
        "parent_id": str(parent_id),
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": None,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "rate_limit_per_user": 0,
        "flags": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": auto_archive_duration,
            "archive_timestamp": now,
            "locked": False,
            "create_timestamp": now,
        },
        "member": {"id": str(thread_id), "user_id": str(owner_id), "join_timestamp": now, "flags": 0},
    }


def guild(
    guild_id: int,
    name: str,
    owner_id: int,
    roles: list[dict[str, Any]],
    channels: list[dict[str, Any]],
    members: list[dict[str, Any]],
    threads: list[dict[str, Any]],
) -> dict[str, Any]:
    """A full GUILD_CREATE payload."""
    return {
        "id": str(guild_id),
        "name": name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "owner_id": str(owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 1,
        "explicit_content_filter": 0,
        "roles": roles,
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "vanity_url_code": None,
        "description": None,
        "banner": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": None,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "safety_alerts_channel_id": None,
        "joined_at": iso_now(),
        "large": False,
        "unavailable": False,
        "member_count": len(members),
        "voice_states": [],
        "members": members,
        "channels": channels,
        "threads": threads,
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "lazy": True,
    }


def attachment(
    attachment_id: int,
    filename: str,
    size: int,
    url: str,
    content_type: str | None,
    *,
    description: str | None = None,
    width: int | None = None,
    height: int | None = None,
    ephemeral: bool = False,
) -> dict[str, Any]:
    """An attachment object, served from the stand-in's CDN route."""
    data: dict[str, Any] = {
        "id": str(attachment_id),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url,
        "content_type": content_type,
        "flags": 0,
    }
    if description:
        data["description"] = description
    if width is not None and height is not None:
        data["width"], data["height"] = width, height
    if ephemeral:
        data["ephemeral"] = True
    return data


def message(
    message_id: int,
    channel_id: int,
    guild_id: int | None,
    author: dict[str, Any],
    body: dict[str, Any],
    attachments: list[dict[str, Any]],
    *,
    message_type: int = MESSAGE_DEFAULT,
    webhook_id: int | None = None,
    interaction: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A message object built from what the bot sent (`body`: content, embeds, components, flags …)."""
    data: dict[str, Any] = {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "author": author,
        "content": body.get("content") or "",
        "timestamp": iso_now(),
        "edited_timestamp": None,
        "tts": bool(body.get("tts", False)),
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "mention_channels": [],
        "attachments": attachments,
        "embeds": body.get("embeds") or [],
        "reactions": [],
        "pinned": False,
        "type": message_type,
        "flags": int(body.get("flags") or 0),
        "components": body.get("components") or [],
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    if body.get("nonce") is not None:
        data["nonce"] = body["nonce"]
    if body.get("message_reference"):
        data["message_reference"] = {**body["message_reference"], "channel_id": str(channel_id)}
    if webhook_id is not None:
        data["webhook_id"] = str(webhook_id)
        data["application_id"] = str(webhook_id)
    if interaction is not None:
        data["interaction_metadata"] = {
            "id": interaction["id"],
            "type": interaction["type"],
            "user": interaction["user"],
            "authorizing_integration_owners": {"0": interaction.get("guild_id")},
        }
        data["interaction"] = {
            "id": interaction["id"],
            "type": interaction["type"],
            "name": interaction.get("name", ""),
            "user": interaction["user"],
        }
    return data
