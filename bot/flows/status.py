"""A status message that is edited as a job moves (queue place, progress), within Discord's edit limits.

Edits come no more often than `min_interval_s`, and never from the caller's own task: `set` only
keeps the latest text, and one flush task per status line writes it when the interval has passed and
the REST budget (bot/ratelimit.py) hands out a progress token; progress may use only its share of the
budget, so a thousand status lines cannot crowd out answers. The last word (`finish`) goes at once,
as urgent. Failing edits are logged, never raised: a lost progress line must not fail the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import discord

from .. import ratelimit

log = logging.getLogger(__name__)


class StatusLine:
    """One message showing where a job stands."""

    def __init__(
        self, message: Any, *, min_interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.message = message
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._last_edit = clock()
        self._shown: str | None = getattr(message, "content", None)
        self._pending: str | None = None
        self._flush: asyncio.Task[None] | None = None
        self._closed = False
        self._lock = asyncio.Lock()
        self.edits = 0  # progress edits written (not counting `finish`)

    @property
    def shown(self) -> str | None:
        """The text the message shows now (as far as the bot knows)."""
        return self._shown

    async def set(self, text: str) -> None:
        """Show `text` as soon as the interval and the progress budget allow (latest text wins); never waits."""
        if self._closed:
            return
        self._pending = text
        if self._flush is None and text != self._shown:
            wait = max(self.min_interval_s - (self._clock() - self._last_edit), 0.0)
            self._flush = asyncio.create_task(self._flush_later(wait))

    async def finish(self, text: str, **kwargs: Any) -> None:
        """The last word: cancels pending edits and writes `text` (and e.g. `view=None`) right away."""
        self._closed = True
        if self._flush is not None:
            self._flush.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flush
            self._flush = None
        with ratelimit.priority(ratelimit.URGENT):
            await self._edit(content=text, **kwargs)

    async def _flush_later(self, wait: float) -> None:
        with ratelimit.priority(ratelimit.PROGRESS):
            while True:
                await asyncio.sleep(wait)
                text = self._pending
                if text is None or self._closed or text == self._shown:
                    break
                await self._edit(content=text)
                self.edits += 1
                wait = self.min_interval_s  # a newer text may have come while editing
        self._flush = None

    async def _edit(self, **kwargs: Any) -> None:
        async with self._lock:
            try:
                await self.message.edit(**kwargs)
            except discord.HTTPException:
                log.warning("could not edit the status message", exc_info=True)
                return
            finally:
                self._last_edit = self._clock()
            if "content" in kwargs:
                self._shown = kwargs["content"]
