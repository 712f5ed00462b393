"""A job's engine slot, given back as soon as its flow has made its last engine call.

A job holds one of the queue's engine slots from its start to its end, but its last steps (posting the
answer to Discord under Discord's rate limits, writing the database) no longer use the engine: under a
burst, slots held by such jobs leave the engine under-fed. So `_run_queued` (bot/flows/run.py) runs each
job's work inside `freeing(...)`, and the flows' shared image step (bot/flows/pictures.py) calls
`engine_done()` once the images are fetched: the last engine call of search, more results, image search,
compare and generate. The next waiting job starts at once; this one stays open (cancel and shutdown still
reach it) until its answer is posted.

The releaser travels in a context variable, as the REST priority does (bot/ratelimit.py), so no flow passes
it along; outside a job (a quiz or a review fetching images) `engine_done()` does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_RELEASE: ContextVar[Callable[[], object] | None] = ContextVar("mirage_engine_slot_release", default=None)


@contextmanager
def freeing(release: Callable[[], object]) -> Iterator[None]:
    """Within the block, `engine_done()` calls `release` (which frees this job's slot; calling it twice
    must be harmless)."""
    token = _RELEASE.set(release)
    try:
        yield
    finally:
        _RELEASE.reset(token)


def engine_done() -> None:
    """The current job will ask the engine nothing more: free its slot for the next waiting job (outside
    a job: nothing)."""
    release = _RELEASE.get()
    if release is not None:
        release()
