"""What a user asked for, as small typed requests.

Slash commands, buttons, modals and mentions only build one of these and hand it to the services of
the client that received it (`interaction.client.services.handle`); the flows turn it into engine
calls, database writes and a reply. Nothing here talks to Discord or the engine.

Some look alike (`SearchText` and `MoreResults` both carry a query and a modality) but stay apart: each
is one thing a user did, and the services pick the flow by its type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SearchText:
    """/mirage search by text: explanation, best image and first-pass hits."""

    query: str
    k: int
    modality: str | None = None


@dataclass(frozen=True)
class SearchImage:
    """/mirage search by an uploaded image (`attachment` is a discord.Attachment)."""

    attachment: Any
    k: int
    text_ignored: bool = False


@dataclass(frozen=True)
class MoreResults:
    """The next page of hits for a text query."""

    query: str
    shown: int
    modality: str | None = None


@dataclass(frozen=True)
class SimilarTo:
    """'Use this as a query': atlas images near one atlas image."""

    atlas_id: str


@dataclass(frozen=True)
class Compare:
    """/mirage compare: base − subtract + add."""

    base: str
    subtract: str
    add: str


@dataclass(frozen=True)
class Generate:
    """/mirage generate, or 'New seed'."""

    prompt: str
    seed: int | None = None
    steps: int | None = None
    fast: bool = False


@dataclass(frozen=True)
class CancelJob:
    """Cancel one's own request."""

    job_id: str


@dataclass(frozen=True)
class AskFollowUp:
    """A follow-up question in an answer thread (from the modal or an @mention)."""

    thread_id: int
    question: str


@dataclass(frozen=True)
class AskNew:
    """/mirage ask outside a known thread: search first, then answer on the top hits."""

    question: str


Request = SearchText | SearchImage | MoreResults | SimilarTo | Compare | Generate | CancelJob | AskFollowUp | AskNew
