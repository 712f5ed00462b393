"""`python -m engine serve|index|migrate|eval …`: the engine's command line.

`serve` lives here; the other commands come from the packages that own them, each through a
`register(subparsers)` hook, so this file stays a table of contents.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

logger = logging.getLogger("engine")

# modules with `register(subparsers)`; each adds its subcommand with set_defaults(func=...)
COMMAND_MODULES = ("engine.atlas.cli", "engine.store.cli", "engine.eval.cli", "engine.models.prefetch")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the chosen command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.func(args) or 0)


def build_parser() -> argparse.ArgumentParser:
    """The parser with `serve` and every command module that imports."""
    parser = argparse.ArgumentParser(prog="python -m engine", description="MIRAGE engine")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the HTTP service (models load in the background)")
    serve.add_argument("--host", help="address to listen on (default MIRAGE_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default MIRAGE_PORT, 8700)")
    serve.set_defaults(func=serve_command)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the module exists but one of its imports is missing: say so
                raise
            continue
        module.register(commands)
    return parser


def serve_command(args: argparse.Namespace) -> int:
    """Load the settings (refusing a non-loopback host without a token), then serve until stopped."""
    from engine.api.app import create_app
    from engine.api.drain import serve
    from engine.config import EngineSettings, describe_settings_error
    from engine.runtime import EngineRuntime

    overrides = {key: value for key in ("host", "port") if (value := getattr(args, key)) is not None}
    try:
        settings = EngineSettings(**overrides)
    except ValidationError as exc:
        logger.error("invalid settings: %s", describe_settings_error(exc))
        return 2
    runtime = EngineRuntime(settings)
    logger.info("engine listening on http://%s:%d (docs at /docs)", settings.host, settings.port)
    # SIGTERM drains first (engine/api/drain.py); the app's lifespan then stops the model workers
    # and closes the runtime
    started = serve(create_app(runtime), host=settings.host, port=settings.port, log_level=args.log_level,
                    grace_s=settings.drain_grace_s)
    return 0 if started else 3


if __name__ == "__main__":
    sys.exit(main())
