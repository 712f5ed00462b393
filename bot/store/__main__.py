"""`python -m bot.store`: the bot database's operator commands.

python -m bot.store upgrade --url URL            bring the schema up to date (the bot also does it at start)
python -m bot.store current --url URL            print the schema revision (and this code's newest)
python -m bot.store copy --from URL --to URL     copy everything into an empty database (SQLite → PostgreSQL)
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from .copy import copy_database
from .database import check_url, make_engine
from .errors import StoreError
from .schema import current_revision, head_revision, open_url


def _url(value: str) -> str:
    try:
        check_url(value)
    except Exception as error:  # noqa: BLE001  (argparse shows the message, not a traceback)
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.store", description="MIRAGE bot database commands.")
    commands = parser.add_subparsers(dest="command", required=True)
    upgrade = commands.add_parser("upgrade", help="upgrade the schema to this code's newest revision")
    upgrade.add_argument(
        "--url", type=_url, required=True, help="sqlite+aiosqlite:///… or postgresql+asyncpg://…"
    )
    current = commands.add_parser("current", help="print the database's schema revision")
    current.add_argument("--url", type=_url, required=True)
    copy = commands.add_parser("copy", help="copy every row into an empty database")
    copy.add_argument("--from", dest="source", type=_url, required=True, help="the database to read")
    copy.add_argument("--to", dest="target", type=_url, required=True, help="an empty database to fill")
    return parser


async def _run(args: argparse.Namespace) -> int:
    if args.command == "upgrade":
        db = await open_url(args.url)
        await db.close()
        print(f"schema at {head_revision()}")
    elif args.command == "current":
        engine = make_engine(args.url)
        try:
            print(f"{await current_revision(engine) or 'empty'} (this code knows up to {head_revision()})")
        finally:
            await engine.dispose()
    else:
        copied = await copy_database(args.source, args.target)
        for table, rows in copied.items():
            print(f"{table}: {rows} rows")
        print(f"copied {sum(copied.values())} rows")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command; errors are one line on stderr, exit status 2."""
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except (StoreError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
