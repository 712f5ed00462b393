"""A status message that is edited as a job moves (queue place, progress), within Discord's edit limits.

Edits come no more often than `min_interval_s`; in between, only the latest text is kept and written
when the interval has passed. Failing edits are logged, never raised: a lost progress line must not
fail the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import discord

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

    async def set(self, text: str) -> None:
        """Show `text` now if allowed, else as soon as the interval has passed (latest text wins)."""
        if self._closed or text == self._shown:
            return
        wait = self.min_interval_s - (self._clock() - self._last_edit)
        if wait <= 0 and self._flush is None:
            await self._edit(content=text)
            return
        self._pending = text
        if self._flush is None:
            self._flush = asyncio.create_task(self._flush_later(max(wait, 0.0)))

    async def finish(self, text: str, **kwargs: Any) -> None:
        """The last word: cancels pending edits and writes `text` (and e.g. `view=None`) right away."""
        self._closed = True
        if self._flush is not None:
            self._flush.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flush
            self._flush = None
        await self._edit(content=text, **kwargs)

    async def _flush_later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self._flush = None
        text, self._pending = self._pending, None
        if text is not None and not self._closed and text != self._shown:
            await self._edit(content=text)

    async def _edit(self, **kwargs: Any) -> None:
        self._last_edit = self._clock()  # before awaiting, so a concurrent `set` waits its turn
        async with self._lock:
            try:
                await self.message.edit(**kwargs)
            except discord.HTTPException:
                log.warning("could not edit the status message", exc_info=True)
                return
            if "content" in kwargs:
                self._shown = kwargs["content"]
