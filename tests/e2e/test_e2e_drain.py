"""End to end: the bot process stops gracefully on SIGTERM.

The real bot process and the real engine (tiny profile) behind the Discord stand-in. A student's slow
generation is running when the bot gets SIGTERM: the student's status line says the restart stopped it,
a command sent meanwhile gets a private "restarting", the job is marked in the bot's database, the
gateway is closed with code 1000 (discord.py's `Client.close()`), and the process exits 0 in time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from bot.render.text import RESTARTING, STOPPED_BY_RESTART
from bot.store.database import SQLITE_FILE
from tests.e2e.conftest import start_bot_process
from tests.e2e.processes import EngineProcess
from tests.e2e.standin import StandIn

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(900)]

GRACE_S = 5.0  # the bot's MIRAGE_BOT_DRAIN_GRACE_S here
EXIT_MARGIN_S = 10.0  # closing the database, the engine client and the gateway after the grace period
HOLD_S = 2.0  # Discord makes the bot wait this long for its last status edit (rate limit), so the drain
# is still going on when the late command arrives


def job_rows(data_dir: Path) -> list[tuple[str, str, int]]:
    """(kind, status, user id) of every job in the bot's database file."""
    with sqlite3.connect(data_dir / SQLITE_FILE) as conn:
        return conn.execute("SELECT kind, status, user_id FROM jobs").fetchall()


async def test_sigterm_stops_open_jobs_tells_their_users_and_closes_the_gateway_cleanly(
    module_standin: StandIn, engine: EngineProcess, tmp_path: Path
) -> None:
    standin, data_dir = module_standin, tmp_path / "data"
    bot = await start_bot_process(
        standin, engine, tmp_path / "bot.log",
        MIRAGE_DATA_DIR=str(data_dir), MIRAGE_BOT_DRAIN_GRACE_S=str(GRACE_S),
    )
    try:
        # 1. a slow job, running in the engine
        record = await standin.run_slash(
            "mirage generate", {"prompt": "sagittal MRI of the knee", "steps": 100}, user="drain-user"
        )
        assert record.acked
        thread_id = int((await standin.wait_for_thread(record, 120))["id"])
        [status] = await standin.wait_for_messages(
            thread_id,
            lambda ms: [m for m in ms if "Generating" in m.content or "step" in m.content.lower()],
            120,
            "the job to reach the engine",
        )
        assert job_rows(data_dir) and job_rows(data_dir)[0][1] in ("waiting", "running")

        # 2. SIGTERM, while Discord holds the bot's next status edit a moment
        session, identifies = standin.gateway.current, standin.gateway.identifies
        assert session is not None
        standin.set_rate_limit(f"PATCH /channels/{thread_id}/messages/{status.id}", retry_after=HOLD_S)
        assert bot.process is not None and bot.process.proc is not None
        proc: subprocess.Popen[bytes] = bot.process.proc
        sent_at = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        await asyncio.sleep(0.3)

        # 3. a command sent during the drain: a short private "restarting", nothing started
        late = await standin.run_slash("mirage search", {"query": "pleural effusion"}, user="late-user")
        assert late.acked and late.ack_latency is not None and late.ack_latency < 3.0
        replies = standin.interaction_messages(late)
        assert [r.content for r in replies] == [RESTARTING] and all(r.ephemeral for r in replies)
        assert standin.thread_for(late) is None

        # 4. the running job's status line says the restart stopped it, without its Cancel button
        await standin.wait_for(
            lambda: STOPPED_BY_RESTART in status.content, GRACE_S + HOLD_S + 5, "the status line's last word"
        )
        assert not status.buttons, status.custom_ids

        # 5. the process exits 0 within the grace period (plus closing), the gateway closed with 1000
        code = await asyncio.to_thread(proc.wait, GRACE_S + EXIT_MARGIN_S)
        took = time.monotonic() - sent_at
        assert code == 0, f"exit code {code}:\n{bot.log_tail()}"
        assert took < GRACE_S + EXIT_MARGIN_S
        # The bot's own close frame, not a dropped connection (1006) nor the stand-in's doing. discord.py's
        # `Client.close()` asks for 1000, but its gateway reader, woken by that close, closes first with its
        # own 4000 (aiohttp lets a waiting reader finish before the closer writes): either is a deliberate
        # close by the client, and the process ended without connecting again.
        last = standin.gateway.closes[-1]
        assert last.code in (1000, 4000) and not last.by_standin, last
        assert last.session_id == session.session_id and session.connection is None
        assert standin.gateway.identifies == identifies and session.resumes == 0
        log = bot.log_tail(200)
        assert "Traceback" not in log, log

        # 6. the database says how the job ended (its Cancel button knows after the next start)
        assert [row[:2] for row in job_rows(data_dir)] == [("generate", "interrupted")]
    finally:
        bot.stop()
