"""`python -m bot`: run the MIRAGE Discord bot (settings from the environment, MIRAGE_ prefix)."""

from __future__ import annotations

import logging
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
        bot.run(settings.discord_token.get_secret_value(), log_handler=None)
    except discord.LoginFailure:
        log.error("Discord refused the token (MIRAGE_DISCORD_TOKEN); copy it again from the Developer Portal")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
