"""What the stand-in records: REST calls, gateway frames, messages with their files, interactions."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class UploadedFile:
    """One file the bot uploaded (a `files[n]` part), with its bytes."""

    filename: str
    data: bytes
    content_type: str
    description: str | None = None
    attachment_id: int | None = None

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    def open_image(self) -> Any:
        """Decode the bytes with Pillow (raises if they are not an image) and return the loaded image."""
        from PIL import Image

        image = Image.open(io.BytesIO(self.data))
        image.load()
        return image


@dataclass
class RestCall:
    """One HTTP request the bot made, and what the stand-in answered."""

    method: str
    path: str
    route: str
    query: dict[str, str]
    json: Any
    files: list[UploadedFile]
    status: int = 0
    at: float = field(default_factory=time.monotonic)

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


@dataclass
class GatewayFrame:
    """One gateway payload, sent by the bot ('recv') or by the stand-in ('send')."""

    direction: str
    op: int
    t: str | None
    d: Any
    s: int | None
    session_id: str | None
    at: float = field(default_factory=time.monotonic)


@dataclass
class GatewayClose:
    """How one gateway connection ended: the close code (the bot's own when it closed first; discord.py's
    `Client.close()` sends 1000) and whether the stand-in closed it (drop, server shutdown, a refusal)."""

    code: int | None
    by_standin: bool
    session_id: str | None
    at: float = field(default_factory=time.monotonic)


@dataclass
class MessageRecord:
    """A message in a channel or thread, as the stand-in stores it: Discord's JSON plus the file bytes."""

    payload: dict[str, Any]
    files: list[UploadedFile]
    source: str
    interaction_id: int | None = None
    created_at: float = field(default_factory=time.monotonic)
    edits: list[dict[str, Any]] = field(
        default_factory=list
    )  # each edit's body, plus "_files" and "_at" (monotonic)
    deleted: bool = False

    @property
    def id(self) -> int:
        return int(self.payload["id"])

    @property
    def channel_id(self) -> int:
        return int(self.payload["channel_id"])

    @property
    def content(self) -> str:
        return self.payload.get("content") or ""

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.payload.get("embeds") or []

    @property
    def components(self) -> list[dict[str, Any]]:
        return self.payload.get("components") or []

    @property
    def flags(self) -> int:
        return int(self.payload.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & 64)

    @property
    def loading(self) -> bool:
        """True while this is a deferred 'thinking…' response that nothing has filled yet."""
        return bool(self.flags & 128)

    @property
    def text(self) -> str:
        """All human-readable text: content, embed titles/descriptions/fields/footers, component text."""
        parts = [self.content]
        for embed in self.embeds:
            parts += [embed.get("title") or "", embed.get("description") or ""]
            for fld in embed.get("fields") or []:
                parts += [fld.get("name") or "", fld.get("value") or ""]
            parts.append((embed.get("footer") or {}).get("text") or "")
            parts.append((embed.get("author") or {}).get("name") or "")
        parts += [c.get("content") or c.get("label") or "" for c in iter_components(self.components)]
        return "\n".join(p for p in parts if p)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Every button (component type 2) anywhere in the component tree."""
        return [c for c in iter_components(self.components) if c.get("type") == 2]

    @property
    def custom_ids(self) -> list[str]:
        """custom_id of every interactive component."""
        return [c["custom_id"] for c in iter_components(self.components) if "custom_id" in c]

    @property
    def images(self) -> list[UploadedFile]:
        """The attached files that decode as images."""
        found = []
        for f in self.files:
            try:
                f.open_image()
            except Exception:
                continue
            found.append(f)
        return found


def iter_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flatten a component tree (action rows, containers, sections with accessories) depth-first."""
    flat: list[dict[str, Any]] = []
    for comp in components:
        flat.append(comp)
        flat += iter_components(comp.get("components") or [])
        if isinstance(comp.get("accessory"), dict):
            flat += iter_components([comp["accessory"]])
    return flat


@dataclass
class InteractionRecord:
    """An interaction the stand-in sent, and how the bot answered it."""

    id: int
    token: str
    type: int
    user_id: int
    user_name: str
    channel_id: int
    command: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    custom_id: str | None = None
    source_message_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    dispatched_at: float = 0.0
    acked_at: float | None = None
    ack_type: int | None = None
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    modal: dict[str, Any] | None = None  # the modal the bot opened in answer (callback type 9)

    @property
    def acked(self) -> bool:
        return self.acked_at is not None

    @property
    def ack_latency(self) -> float | None:
        """Seconds from dispatch to the bot's first callback, or None if it never answered."""
        return None if self.acked_at is None else self.acked_at - self.dispatched_at

    @property
    def message_ids(self) -> list[int]:
        """Ids of messages made through this interaction's token (original response first)."""
        ids = [self.original_message_id] if self.original_message_id else []
        return ids + [m for m in self.followup_ids if m not in ids]
