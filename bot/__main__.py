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
        asyncio.run(serve(bot, settings.discord_token.get_secret_value()))
    except discord.LoginFailure:
        log.error("Discord refused the token (MIRAGE_DISCORD_TOKEN); copy it again from the Developer Portal")
        return 2
    except KeyboardInterrupt:  # Ctrl-C: asyncio.run has cancelled the client, which closed itself
        return 0
    return 0


async def serve(bot: MirageBot, token: str) -> None:
    """What `Client.run` does, plus SIGTERM: a graceful stop (bot/drain.py) instead of the default kill."""
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, bot.drain.begin)
    async with bot:
        await bot.start(token)
    await bot.drain.wait()  # start() returns as soon as the gateway closes; let the drain finish its log


if __name__ == "__main__":
    sys.exit(main())
