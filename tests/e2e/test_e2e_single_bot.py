"""One bot: two real bot processes on one database against the Discord stand-in.

The second bot finds the first one's single-instance lock (bot/lock.py; a flock beside the SQLite
database here), says so in its log and never opens a gateway session, so every interaction is answered
exactly once. When the first is killed (SIGKILL, as a crash or a lost node), the second takes the lock
within seconds, connects, and answers from then on, again exactly once. Its /healthz says it is alive
while it waits.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.answers import wait_for_answer
from tests.e2e.conftest import start_bot_process
from tests.e2e.processes import FAST_BOT_ENV, BotProcess, EngineProcess, free_port
from tests.e2e.standin import StandIn

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(900)]
ANSWER_TIMEOUT_S = 120.0


async def _log_says(bot: BotProcess, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in bot.log_tail(400):
        assert bot.alive, f"the bot process died:\n{bot.log_tail()}"
        assert time.monotonic() < deadline, f"no {text!r} in the log:\n{bot.log_tail()}"
        await asyncio.sleep(0.1)


async def _answered_once(standin: StandIn, query: str, user: str) -> None:
    record = await standin.run_slash("mirage search", {"query": query, "k": 1}, user=user)
    assert record.acked, "nobody acknowledged the interaction"
    answer = await wait_for_answer(standin, record, ANSWER_TIMEOUT_S)
    assert answer.ok, answer.status.content
    await asyncio.sleep(0.5)  # a second bot would answer at about the same time
    assert len(record.callbacks) == 1, record.callbacks  # one acknowledgement: one bot answered
    statuses = [m for m in standin.world.messages_in(answer.channel_id) if m.content.startswith("✅")]
    assert len(statuses) == 1, [m.content for m in statuses]


async def test_a_second_bot_waits_then_takes_over_when_the_first_dies(
    module_standin: StandIn, engine: EngineProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    work: Path = tmp_path_factory.mktemp("single-bot")
    data = str(work / "data")  # both bots on one database: the SQLite file there
    first = await start_bot_process(module_standin, engine, work / "first.log", MIRAGE_DATA_DIR=data)
    gateway = module_standin.gateway
    identifies, synced = gateway.identifies, module_standin.commands.sync_count
    port = free_port()
    second = BotProcess(module_standin.env(), engine.url, engine.token, work / "second.log",
                        extra_env={**FAST_BOT_ENV, "MIRAGE_DATA_DIR": data, "MIRAGE_BOT_METRICS_PORT": str(port)})
    second.start()
    try:
        await _log_says(second, "another bot is running", 60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as health:
            assert health.status == 200 and b"waiting for the single-instance lock" in health.read()
        for n in range(3):
            await _answered_once(module_standin, f"chest radiograph {n}", f"before-{n}")
        assert gateway.identifies == identifies, "the waiting bot must not open a gateway session"
        assert "Traceback" not in second.log_tail(400)

        assert first.process is not None
        first.process.kill()  # SIGKILL: no clean-up, the kernel frees the flock
        killed = time.monotonic()
        await module_standin.wait_for(
            lambda: gateway.identifies > identifies and gateway.connected.is_set()
            and module_standin.commands.sync_count > synced,
            60, "the second bot's gateway session and command sync",
        )
        took_over_s = time.monotonic() - killed
        assert took_over_s < 15, took_over_s  # lock within 1 s, then the bot's own start
        await _log_says(second, "took the single-instance lock", 5)
        for n in range(3):
            await _answered_once(module_standin, f"knee MRI {n}", f"after-{n}")
        assert second.alive and not first.alive
        # the client's default: no @everyone, roles or users pinged by text a user typed
        posts = [c for c in module_standin.calls_matching("POST /channels/*/messages") if isinstance(c.json, dict)]
        assert posts and all(c.json.get("allowed_mentions") == {"parse": []} for c in posts), posts[:3]
        print(f"second bot took over {took_over_s:.1f} s after the first was killed")  # noqa: T201
    finally:
        second.stop()
        first.stop()
