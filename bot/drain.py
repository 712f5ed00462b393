"""Stopping gracefully (SIGTERM from systemd, Kubernetes, `mirage up`), in steps:

1. stop taking work: from now on every new interaction (command, button, form) gets a short private
   "MIRAGE is restarting, try again in a minute", and @mentions get the same reply;
2. stop the open jobs: the queue marks each one interrupted and cancels it; the job's own flow then edits
   its status line ("your request was stopped, run it again") and records `interrupted` in the database;
3. wait for those last words, at most the grace period (`MIRAGE_BOT_DRAIN_GRACE_S`); jobs still open
   then are marked `interrupted` in the database here;
4. close the client: quiz timers stop (quizzes live in the database and resume at the next start), then
   the database, the engine client, and the gateway with close code 1000, so `python -m bot` exits 0.

discord.py's `Client.run` installs no SIGTERM handler (the default one would kill the process mid-reply):
`python -m bot` installs `Drain.begin` with `loop.add_signal_handler`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord

from .render import text
from .store import DatabaseUnavailable, jobs

log = logging.getLogger(__name__)

INTERACTION_CREATE = "INTERACTION_CREATE"
AUTOCOMPLETE = 4


class Drain:
    """The bot's graceful stop: a flag the gate reads, and the steps above."""

    def __init__(self, client: Any, grace_s: float) -> None:
        self.client = client
        self.grace_s = grace_s
        self.draining = False
        self._task: asyncio.Task[None] | None = None
        self._replies: set[asyncio.Task[None]] = set()

    def begin(self) -> None:
        """Start draining (a signal handler's callback: returns at once; a second call does nothing)."""
        if self.draining:
            return
        self.draining = True
        log.info("stopping: no new work; telling users with open jobs (waiting up to %g s)", self.grace_s)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="mirage-drain")

    async def wait(self) -> None:
        """Until the drain has finished (the client is closed)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        try:
            await self._stop_jobs()  # steps 2 and 3
        except Exception:  # the client must close whatever happens here
            log.exception("could not stop the open jobs cleanly")
        finally:
            if self._replies:  # the "restarting" replies already on their way
                await asyncio.wait(self._replies, timeout=2.0)
            await self.client.close()  # step 4
            log.info("stopped")

    async def _stop_jobs(self) -> None:
        services = getattr(self.client, "services", None)
        if services is None:  # stopped before start-up finished: no job can be open
            return
        stopped = services.queue.interrupt_all()
        if not stopped:
            return
        log.info("stopping %d open job(s)", len(stopped))
        waits = {asyncio.ensure_future(job.settled.wait()): job for job in stopped}
        _, pending = await asyncio.wait(waits, timeout=self.grace_s)
        for waiting in pending:
            waiting.cancel()
        left = [waits[waiting].id for waiting in pending]
        if not left:
            return
        log.warning("%d job(s) did not end within %g s; marking them interrupted", len(left), self.grace_s)
        if services.db is None:
            return
        try:
            async with services.db.session() as session:
                await jobs.interrupt(session, left)
        except DatabaseUnavailable:
            log.warning("could not mark the jobs: the database is unavailable (the next start marks them)")

    # --- step 1: the gate --------------------------------------------------------------------------
    def install_gate(self, client: discord.Client) -> None:
        """Answer every interaction with "restarting" while draining, before discord.py routes it anywhere.

        Commands, buttons of every kind and forms arrive through one gateway event; discord.py has no
        public hook before it hands them to the command tree and the views, so the gate wraps that
        event's parser (a dict on the connection state), one place for all of them.
        """
        state = client._connection
        route = state.parsers[INTERACTION_CREATE]

        def gated(data: Any) -> None:
            if not self.draining:
                route(data)
                return
            self.refuse(discord.Interaction(data=data, state=state))

        state.parsers[INTERACTION_CREATE] = gated

    def refuse(self, interaction: discord.Interaction[Any]) -> None:
        """Tell the user, privately, to come back in a minute (in the background)."""
        task = asyncio.get_running_loop().create_task(self._refuse(interaction))
        self._replies.add(task)
        task.add_done_callback(self._replies.discard)

    @staticmethod
    async def _refuse(interaction: discord.Interaction[Any]) -> None:
        try:
            if interaction.type.value == AUTOCOMPLETE:
                await interaction.response.autocomplete([])
            else:
                await interaction.response.send_message(text.RESTARTING, ephemeral=True)
        except discord.HTTPException:
            log.info("could not tell a user that the bot is restarting", exc_info=True)
