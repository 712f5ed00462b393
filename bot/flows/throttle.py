"""One Discord message that shows the latest of a changing text, edited no faster than Discord allows.

Discord allows five edits of a channel's messages in five seconds, and the bot's REST budget
(bot/ratelimit.py) gives progress only a share of its requests, so a message that follows something
moving (a queue place, an LLM's words) cannot be edited at every change. The rule, shared by the job's
status line (bot/flows/status.py) and the answer shown while it is written (bot/flows/live.py):

- latest text wins: `set` only keeps the newest text and never waits; texts that came in between are
  dropped, and a text the message already shows is not written again;
- at most one edit per `min_interval_s`, counted from when the previous write came back;
- the edits are written by one flush task per message, at `ratelimit.PROGRESS` priority, never from the
  caller's task (an answer's stream-reading loop or the queue must not wait on Discord);
- `close` cancels the flush task and its pending text, then waits (on the lock every write holds) for a
  write in flight from another task, e.g. the first post, so the last word is written after it.

A refused edit is logged, never raised (a lost progress line must not fail the job), and is not tried
again: discord.py already retries rate limits and server errors, so what reaches us will not pass later;
the next newer text gets its own try.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from .. import ratelimit

log = logging.getLogger(__name__)


class ThrottledMessage:
    """A message showing the latest text it was `set` to, edited at most once per `min_interval_s`.

    `message` may be None at first: `post` makes it (from the caller's task, at the caller's priority).
    """

    def __init__(
        self, message: Any | None, *, min_interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.message = message
        self.min_interval_s = min_interval_s
        self.edits = 0  # progress edits that Discord took (not the post, not the last word)
        self._clock = clock
        self._last_write = clock()  # a message handed in was just posted: the first edit waits its turn
        self._shown: str | None = getattr(message, "content", None)
        self._pending: str | None = None
        self._flush: asyncio.Task[None] | None = None
        self._closed = False
        self._lock = asyncio.Lock()

    @property
    def shown(self) -> str | None:
        """The text the message shows now (as far as the bot knows)."""
        return self._shown

    @property
    def closed(self) -> bool:
        """True once `close` was called (or the first post failed): later texts are ignored."""
        return self._closed

    async def set(self, text: str) -> None:
        """Show `text` as soon as the interval and the progress budget allow (latest text wins); never waits."""
        if self._closed or self.message is None:
            return
        self._pending = text
        if self._flush is None and text != self._shown:
            wait = max(self.min_interval_s - (self._clock() - self._last_write), 0.0)
            self._flush = asyncio.create_task(self._flush_later(wait))

    async def post(self, text: str, send: Callable[[str], Awaitable[Any]]) -> bool:
        """Make the message with `send(text)` unless there is one already (checked under the lock).

        True when this call posted it; `send`'s errors are raised, after which the message is closed.
        """
        async with self._lock:
            if self.message is not None or self._closed:
                return False
            try:
                self.message = await send(text)
            except BaseException:
                self._closed = True
                raise
            finally:
                self._last_write = self._clock()
            self._shown = text
            return True

    async def write(self, **fields: Any) -> bool:
        """Edit the message now with `fields` (content, view, …), after any write in flight; False if refused."""
        if self.message is None:
            return False
        async with self._lock:
            try:
                await self.message.edit(**fields)
            except discord.HTTPException:
                log.warning("could not edit the message %s", getattr(self.message, "id", "?"), exc_info=True)
                return False
            finally:
                self._last_write = self._clock()
            if "content" in fields:
                self._shown = fields["content"]
            return True

    async def close(self) -> None:
        """No more progress: cancel the flush task and its pending text; a post in flight lands first."""
        self._closed = True
        if self._flush is not None:
            self._flush.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flush
            self._flush = None
        async with self._lock:  # a write from another task (the first post) lands before the last word
            pass

    async def _flush_later(self, wait: float) -> None:
        with ratelimit.priority(ratelimit.PROGRESS):
            while True:
                await asyncio.sleep(wait)
                text, self._pending = self._pending, None
                if text is None or self._closed or text == self._shown:
                    break
                if await self.write(content=text, allowed_mentions=discord.AllowedMentions.none()):
                    self.edits += 1
                # newer text that came while editing waits out the interval from this write
                wait = max(0.0, self.min_interval_s - (self._clock() - self._last_write))
        self._flush = None
