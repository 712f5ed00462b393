"""What a teacher or student asked of the study sets (`/mirage set …`, the ➕ Add to set button), as small
typed requests like those of bot/requests.py (which joins `SetAction` into its `Request`); the flows in
bot/flows/sets/ carry them out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SetCreate:
    """/mirage set create: a new empty set for the server."""

    name: str


@dataclass(frozen=True)
class SetAdd:
    """/mirage set add: atlas ids onto the end of a set."""

    name: str
    ids: tuple[str, ...]


@dataclass(frozen=True)
class SetRemove:
    """/mirage set remove: atlas ids out of a set."""

    name: str
    ids: tuple[str, ...]


@dataclass(frozen=True)
class SetList:
    """/mirage set list: the server's sets, or one set's images (`name`)."""

    name: str | None = None


@dataclass(frozen=True)
class SetPlay:
    """/mirage set play: the group quiz over a set's images, in order."""

    name: str


@dataclass(frozen=True)
class SetDelete:
    """/mirage set delete (its owner or a moderator)."""

    name: str


@dataclass(frozen=True)
class SetExport:
    """/mirage set export: the set as a small JSON file."""

    name: str


@dataclass(frozen=True)
class SetImport:
    """/mirage set import: a new set from a file (`attachment` is a discord.Attachment)."""

    attachment: Any
    name: str | None = None


@dataclass(frozen=True)
class PickSetFor:
    """➕ Add to set under search hits: which set should these hits go to?"""

    hit_ids: tuple[str, ...]


@dataclass(frozen=True)
class AddHitsToSet:
    """A set picked for the hits."""

    set_id: int
    hit_ids: tuple[str, ...]


SetAction = (
    SetCreate | SetAdd | SetRemove | SetList | SetPlay | SetDelete | SetExport | SetImport | PickSetFor | AddHitsToSet
)
