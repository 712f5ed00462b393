"""The event loop stays free while answers are drawn: images are decoded, resized, drawn and re-encoded in
worker threads, so a burst of users never delays the gateway heartbeat or the 3-second acknowledgements."""

from __future__ import annotations

import asyncio
import gc
import time
from types import TracebackType

from .conftest import invoke
from .engine_standin import png_bytes
from .fakes import FakeInteraction

LOOP_LAG_LIMIT_S = 0.100
BURST_USERS = 50


class LoopLagMonitor:
    """Times every step the event loop runs (each callback, or a task's run between two awaits) and keeps the
    longest: while a step runs, nothing else on the loop can (no heartbeat, no acknowledgement).

    A step is timed by the CPU time the loop's thread spends in it. Wall-clock time (or how late a sleeping
    task wakes) also counts the time the OS gave other processes and the time spent waiting for the GIL
    while worker threads draw pictures: on a shared 2-core machine that swings by hundreds of
    milliseconds whatever the bot does, while the CPU time of a step is the bot's own doing.

    Python's cyclic garbage collector is not counted against the step it happens to interrupt: its pause
    grows with every object in the *process*, and this test process also holds whatever earlier tests
    imported (torch and friends make a full collection take ~250 ms here), which the bot process never
    does. The longest collection is kept apart (`worst_gc_s`) so it still shows in the failure message.
    """

    def __init__(self) -> None:
        self.worst_s = 0.0
        self.worst_step = ""
        self.worst_gc_s = 0.0
        self.steps = 0
        self._original = asyncio.events.Handle._run
        self._gc_started = 0.0
        self._gc_total = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        now = time.thread_time()
        if phase == "start":
            self._gc_started = now
        else:
            took = now - self._gc_started
            self._gc_total += took
            self.worst_gc_s = max(self.worst_gc_s, took)

    def __enter__(self) -> LoopLagMonitor:
        monitor, original = self, self._original

        def timed_run(handle: asyncio.events.Handle) -> None:
            started, gc_before = time.thread_time(), monitor._gc_total
            try:
                original(handle)
            finally:
                took = time.thread_time() - started - (monitor._gc_total - gc_before)
                monitor.steps += 1
                if took > monitor.worst_s:
                    monitor.worst_s, monitor.worst_step = took, repr(handle)[:300]

        asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        asyncio.events.Handle._run = self._original  # type: ignore[method-assign]
        gc.callbacks.remove(self._on_gc)


async def test_a_fifty_user_burst_never_blocks_the_event_loop(engine, make_services):
    # Photographs of real size: 1024² noise PNGs (3 MB) must be decoded, drawn side by side and
    # re-encoded to fit five to a 10 MiB message — a few hundred ms of CPU per answer.
    engine.image_bytes = await asyncio.to_thread(png_bytes, (1024, 1024), noise=True)
    services = make_services(engine_max_concurrent=4, user_open_jobs_max=1)
    commands = []
    for user in range(BURST_USERS):
        interaction = FakeInteraction(services, user_id=10_000 + user)
        if user % 5 == 3:
            commands.append((interaction, "compare", {"base": "left effusion", "subtract": "left", "add": "right"}))
        elif user % 5 == 4:
            commands.append((interaction, "generate", {"prompt": f"chest CT {user}", "seed": user, "fast": True}))
        else:
            commands.append((interaction, "search", {"query": f"pneumothorax {user}", "k": 4}))

    started = time.monotonic()
    with LoopLagMonitor() as monitor:
        await asyncio.gather(*(invoke(services, name, i, **options) for i, name, options in commands))
    elapsed = time.monotonic() - started

    # every user got an answer with its pictures (so the heavy work really ran during the burst) …
    for interaction, name, _ in commands:
        footer = interaction.thread.messages[-1]
        assert interaction.thread.messages[0].content == "✅ Done.", (name, interaction.thread.text)
        assert footer.files, (name, footer.content)
    # … and the loop never stood still long enough to miss a heartbeat or an acknowledgement
    assert monitor.steps > 1000, f"the monitor saw only {monitor.steps} loop steps in {elapsed:.1f} s"
    assert monitor.worst_s < LOOP_LAG_LIMIT_S, (
        f"the event loop was blocked for {monitor.worst_s * 1000:.0f} ms during the burst "
        f"(limit {LOOP_LAG_LIMIT_S * 1000:.0f} ms) by {monitor.worst_step}; the longest garbage collection, "
        f"not counted, took {monitor.worst_gc_s * 1000:.0f} ms"
    )
