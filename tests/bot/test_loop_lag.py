"""The event loop stays free while answers are drawn: images are decoded, resized, drawn and re-encoded in
worker threads, so a burst of users never delays the gateway heartbeat or the 3-second acknowledgements."""

from __future__ import annotations

import asyncio
import time
from types import TracebackType

from .conftest import invoke
from .engine_standin import png_bytes
from .fakes import FakeInteraction

LOOP_LAG_LIMIT_S = 0.100
BURST_USERS = 50


class LoopLagMonitor:
    """Wakes every `tick_s` on the loop and records how late each wake-up was: the longest the loop was
    blocked (by anything: a callback that does not yield delays every other task by as much)."""

    def __init__(self, tick_s: float = 0.005) -> None:
        self.tick_s = tick_s
        self.worst_s = 0.0
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.tick_s)
            self.worst_s = max(self.worst_s, loop.time() - before - self.tick_s)
            self.ticks += 1

    async def __aenter__(self) -> LoopLagMonitor:
        self._task = asyncio.create_task(self._watch())
        await asyncio.sleep(0)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._task is not None
        self._task.cancel()


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
    async with LoopLagMonitor() as monitor:
        await asyncio.gather(*(invoke(services, name, i, **options) for i, name, options in commands))
    elapsed = time.monotonic() - started

    # every user got an answer with its pictures (so the heavy work really ran during the burst) …
    for interaction, name, _ in commands:
        footer = interaction.thread.messages[-1]
        assert interaction.thread.messages[0].content == "✅ Done.", (name, interaction.thread.text)
        assert footer.files, (name, footer.content)
    # … and the loop never stood still long enough to miss a heartbeat or an acknowledgement
    assert monitor.ticks > 10, f"the monitor barely ran ({monitor.ticks} ticks in {elapsed:.1f} s)"
    assert monitor.worst_s < LOOP_LAG_LIMIT_S, (
        f"the event loop was blocked for {monitor.worst_s * 1000:.0f} ms during the burst "
        f"(limit {LOOP_LAG_LIMIT_S * 1000:.0f} ms)"
    )
