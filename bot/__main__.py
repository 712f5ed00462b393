"""`python -m bot`: run the MIRAGE Discord bot (settings from the environment, MIRAGE_ prefix)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import discord
from pydantic import ValidationError

from .client import MirageBot
from .config import BotSettings
from .lock import instance_lock, keep_lock, wait_for_lock
from .metrics import LIVENESS, serve_metrics
from .store.schema import database_url

log = logging.getLogger("bot")


def main() -> int:
    """Read the settings, set up logging, run until stopped."""
    discord.utils.setup_logging(level=logging.INFO)
    try:
        settings = BotSettings()  # type: ignore[call-arg]  # the token comes from the environment
    except ValidationError as error:
        for problem in error.errors():
            name = "MIRAGE_" + "_".join(str(p) for p in problem["loc"]).upper()
            log.error("setting %s: %s", name, problem["msg"])
        return 2
    logging.getLogger().setLevel(settings.log_level)
    if settings.log_level != "DEBUG":
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per engine request is noise
    bot = MirageBot(settings)
    try:
        return asyncio.run(serve(bot, settings))
    except discord.LoginFailure:
        log.error("Discord refused the token (MIRAGE_DISCORD_TOKEN); copy it again from the Developer Portal")
        return 2
    except KeyboardInterrupt:  # Ctrl-C: asyncio.run has cancelled the client, which closed itself
        return 0


async def serve(bot: MirageBot, settings: BotSettings) -> int:
    """What `Client.run` does, behind the single-instance lock (bot/lock.py), plus SIGTERM: a graceful
    stop (bot/drain.py) instead of the default kill. 0 after a stop, 1 when the lock was lost."""
    stop = asyncio.Event()  # SIGTERM before the bot runs: stop waiting for the lock
    running = False

    def on_sigterm() -> None:
        stop.set()
        if running:
            bot.drain.begin()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, on_sigterm)
    serve_metrics(settings.bot_metrics_port)  # /healthz answers while the bot waits for the lock
    lock = instance_lock(database_url(settings))  # the database bot.store opens
    lost = False

    def on_lost() -> None:
        nonlocal lost
        lost = True
        bot.drain.begin()

    try:
        if not await wait_for_lock(lock, stop=stop, on_waiting=_waiting):
            log.info("stopped while waiting for the single-instance lock")
            return 0
        watch = asyncio.create_task(keep_lock(lock, on_lost), name="mirage-lock")
        LIVENESS.client, running = bot, True
        try:
            async with bot:
                await bot.start(settings.discord_token.get_secret_value())
            await bot.drain.wait()  # start() returns as soon as the gateway closes; let the drain finish its log
        finally:
            watch.cancel()
    finally:
        await lock.release()
    return 1 if lost else 0


def _waiting(waiting: bool) -> None:
    LIVENESS.waiting_for_lock = waiting


if __name__ == "__main__":
    sys.exit(main())
