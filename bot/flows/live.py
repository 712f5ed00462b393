"""An answer shown while the engine's LLM writes it, then replaced by the checked, cited text.

The first words are posted as one message; later words edit it at most once per `min_interval_s`
(MIRAGE_PROGRESS_INTERVAL_S), the latest text winning: the pacing is bot/flows/throttle.py's, shared with
the job's status line. Those edits are progress for the bot's REST budget (bot/ratelimit.py): they never
hold up an answer, and never run in the caller's stream-reading loop (a task writes them). `finish` writes
the final text into that message right away (or posts it when there was none, or when it does not fit one
message); `discard` deletes it for an answer posted in full (search's, with its images); `stop` marks
a message whose answer will not come (cancelled, failed). Failing edits are logged; the final answer
is never lost to one: it is posted instead.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import discord

from ..render import text
from ..render.images import MESSAGE_MAX_CHARS
from .reply import Reply
from .throttle import ThrottledMessage

log = logging.getLogger(__name__)

WRITING = "-# ✍️ being written by a language model; the checked answer with its sources replaces this"
CURSOR = " ▌"
STOPPED = "-# 🛑 stopped before the answer was finished"
SUPERSEDED = "-# (the explanation was being written here; the checked one is below)"


class LiveText:
    """One message that follows the LLM's words, then becomes the final answer."""

    def __init__(
        self, reply: Reply, *, min_interval_s: float, heading: str = "", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.reply = reply
        self.min_interval_s = min_interval_s
        self.heading = heading
        self._words = ThrottledMessage(None, min_interval_s=min_interval_s, clock=clock)  # posted by `update`
        self._written = ""  # the newest words shown or waiting to be

    @property
    def message(self) -> Any | None:
        """The message the words are shown in (None until the first words are posted)."""
        return self._words.message

    @property
    def edits(self) -> int:
        """Edits made while writing (not counting the first post and the final one)."""
        return self._words.edits

    async def update(self, written: str) -> None:
        """The LLM's text so far: posted the first time, then an edit when the interval allows (else later)."""
        if self._words.closed or not written.strip():
            return
        self._written = written
        content = self._render(written)
        if self._words.message is None:
            try:
                if await self._words.post(content, lambda first: self.reply.send(first, notes=False)):
                    return
            except discord.HTTPException:  # the answer itself still comes, posted in full
                log.warning("could not post the streamed words; the answer will come whole", exc_info=True)
                return
        await self._words.set(content)

    async def finish(
        self, final: str, *, view: discord.ui.View | None = None, embed: discord.Embed | None = None
    ) -> None:
        """Replace the words with the checked `final` text (with `view`, `embed`); posted anew when it cannot be."""
        await self._words.close()
        # notes still waiting on the reply (no thread, no files) go out with a posted answer, not an edit
        notes_waiting = bool(getattr(self.reply, "_notes", None))
        if self.message is not None and len(final) <= MESSAGE_MAX_CHARS and not notes_waiting:
            try:
                kwargs: dict[str, Any] = {"content": final, "allowed_mentions": discord.AllowedMentions.none()}
                if view is not None:
                    kwargs["view"] = view
                if embed is not None:
                    kwargs["embed"] = embed
                await self.message.edit(**kwargs)
                return
            except discord.HTTPException:
                log.warning("could not turn the streamed message into the answer; posting it instead", exc_info=True)
        delete = getattr(self.message, "delete", None)
        if callable(delete):
            with contextlib.suppress(discord.HTTPException):
                await delete()
        await self.reply.send(final, view=view, embed=embed)

    async def discard(self) -> None:
        """The words are superseded by an answer posted in full (e.g. search's, with its images): delete them."""
        await self._words.close()
        message = self.message
        if message is None:
            return
        try:
            await message.delete()
        except discord.HTTPException:
            log.warning("could not delete the streamed words; marking them superseded", exc_info=True)
            with contextlib.suppress(discord.HTTPException):
                await message.edit(content=SUPERSEDED)

    async def stop(self) -> None:
        """The answer will not come: say so under the words already shown (nothing when none were)."""
        await self._words.close()
        if self.message is None:
            return
        head = f"{self.heading}\n" if self.heading else ""
        content = _fit(f"{head}{text.escape(self._written.strip())}\n{STOPPED}", keep_end=True, head=head)
        with contextlib.suppress(discord.HTTPException):
            await self.message.edit(content=content, allowed_mentions=discord.AllowedMentions.none())

    # --- plumbing -------------------------------------------------------------------------
    def _render(self, written: str) -> str:
        head = f"{self.heading}\n" if self.heading else ""
        return _fit(f"{head}{text.escape(written.strip())}{CURSOR}\n{WRITING}", keep_end=True, head=head)


def _fit(content: str, *, keep_end: bool = False, head: str = "") -> str:
    """`content` within one message; while writing, the newest words are the ones kept."""
    if len(content) <= MESSAGE_MAX_CHARS:
        return content
    if keep_end:
        room = MESSAGE_MAX_CHARS - len(head) - 1
        return head + "…" + content[len(content) - room :]
    return content[: MESSAGE_MAX_CHARS - 1] + "…"
