"""`python -m mirage up [--host H] [--port P]`: run the engine (and the bot, given a token) on one box.

The engine starts at once; the bot, when MIRAGE_DISCORD_TOKEN is set, once the engine's /readyz says
200. A child that crashes is restarted with backoff; Ctrl-C or SIGTERM stops both gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from mirage.stack import HOW_TO_ADD_THE_BOT, UpSettings, stack_specs
from mirage.supervisor import Supervisor


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the chosen command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="mirage", description="MIRAGE on one box")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser("up", help="run the engine, and the bot when MIRAGE_DISCORD_TOKEN is set")
    up.add_argument("--host", help="engine address (default MIRAGE_HOST, 127.0.0.1)")
    up.add_argument("--port", type=int, help="engine port (default MIRAGE_PORT, 8700)")
    # the engine may hold a request for MIRAGE_REQUEST_TIMEOUT_S (120 s) while it drains, plus a margin
    up.add_argument("--stop-grace", type=float, default=150.0, metavar="S",
                    help="seconds each child gets to finish its work after SIGTERM (default 150)")
    args = parser.parse_args(argv)
    return up_command(args)


def up_command(args: argparse.Namespace) -> int:
    """Build the stack from the settings and supervise it until stopped."""
    overrides = {key: value for key in ("host", "port") if (value := getattr(args, key)) is not None}
    try:
        settings = UpSettings(**overrides)
    except ValidationError as exc:
        for problem in exc.errors():
            print(f"mirage | setting MIRAGE_{'_'.join(map(str, problem['loc'])).upper()}: {problem['msg']}")
        return 2
    supervisor = Supervisor(stack_specs(settings))
    supervisor.timing.stop_grace_s = args.stop_grace
    if not settings.wants_bot:
        supervisor.say(HOW_TO_ADD_THE_BOT)
    return asyncio.run(supervisor.run())


if __name__ == "__main__":
    sys.exit(main())
