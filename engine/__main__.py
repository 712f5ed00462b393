"""`python -m engine serve|index|migrate|eval …`: the engine's command line.

`serve` lives here; the other commands come from the packages that own them, each through a
`register(subparsers)` hook, so this file stays a table of contents.
"""

from __future__ import annotations

import argparse
import errno
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
    taken = port_problem(settings.host, settings.port)
    if taken is not None:  # a configuration error: restarting cannot help (mirage up and systemd stop on 2)
        logger.error("cannot listen on %s:%d: %s; stop what holds it, or set MIRAGE_PORT (or --port) to a free "
                     "port", settings.host, settings.port, taken)
        return 2
    runtime = EngineRuntime(settings)
    logger.info("engine listening on http://%s:%d (docs at /docs)", settings.host, settings.port)
    # SIGTERM drains first (engine/api/drain.py); the app's lifespan then stops the model workers
    # and closes the runtime
    started = serve(create_app(runtime), host=settings.host, port=settings.port, log_level=args.log_level,
                    grace_s=settings.drain_grace_s)
    return 0 if started else 3


def port_problem(host: str, port: int) -> str | None:
    """Why `host`:`port` cannot be listened on (taken, not an address of this machine), or None.

    Checked before the models load, so a taken port is reported at once as a configuration error
    (exit status 2) instead of after the loading, as uvicorn's own failure (status 1, restarted forever).
    """
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        return f"{host!r} is not an address of this machine ({error.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as error:
            return "the port is already in use" if error.errno == errno.EADDRINUSE else error.strerror or str(error)
    return None


if __name__ == "__main__":
    sys.exit(main())
