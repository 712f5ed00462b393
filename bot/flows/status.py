"""A status message that is edited as a job moves (queue place, progress), within Discord's edit limits.

The pacing is bot/flows/throttle.py's: `set` only keeps the latest text, and one flush task writes it
when `min_interval_s` has passed and the REST budget (bot/ratelimit.py) hands out a progress token;
progress may use only its share of the budget, so a thousand status lines cannot crowd out answers.
A status line adds only its last word: `finish` goes at once, as urgent. Failing edits are logged,
never raised: a lost progress line must not fail the job.
"""

from __future__ import annotations

from typing import Any

from .. import ratelimit
from .throttle import ThrottledMessage


class StatusLine(ThrottledMessage):
    """One message showing where a job stands: `set` its progress, then `finish` with the outcome.

    It is a throttled message (it was posted before the job started) with an urgent last word.
    """

    async def finish(self, text: str, **kwargs: Any) -> None:
        """The last word: cancels pending edits and writes `text` (and e.g. `view=None`) right away."""
        await self.close()
        with ratelimit.priority(ratelimit.URGENT):
            await self.write(content=text, **kwargs)
