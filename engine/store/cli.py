"""`python -m engine migrate`: move the atlas between the embedded store and a Qdrant server.

    python -m engine migrate --to-url http://qdrant:6333 [--collection roco]
    python -m engine migrate --from-url http://qdrant:6333 --to-path data/atlas-copy

On the server, --collection (default MIRAGE_COLLECTION) is the alias the engines read: an export
builds a new version behind it and switches the alias once the copy is complete and counted
(engine/store/versioned.py); an import reads whatever the alias points to.

The embedded side defaults to the configured atlas (MIRAGE_DATA_DIR/atlas); the API key comes
from MIRAGE_QDRANT_API_KEY, never from the command line.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from engine.config import EngineSettings, describe_settings_error, get_settings
from engine.store.edge import stored_dim
from engine.store.factory import open_embedded_store, open_server_store
from engine.store.migrate import MigrationError, copy_atlas
from engine.store.provenance import UNRECORDED, AtlasProvenance, read_provenance
from engine.store.versioned import connect_server, finish_version, open_version
from engine.store.versions import DEFAULT_REPLICAS, DEFAULT_SHARDS, ServerUnavailable

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(subparsers: Any) -> None:
    """Add the `migrate` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser(
        "migrate",
        help="copy the atlas to or from a Qdrant server, without re-embedding",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    direction = p.add_mutually_exclusive_group(required=True)
    direction.add_argument("--to-url", metavar="URL", help="export the embedded atlas to this Qdrant server")
    direction.add_argument(
        "--from-url", metavar="URL", help="import from this Qdrant server into an embedded atlas"
    )
    p.add_argument("--collection", help="the alias on the server (default: MIRAGE_COLLECTION)")
    p.add_argument("--from-path", type=Path, help="embedded atlas to export (default: MIRAGE_DATA_DIR/atlas)")
    p.add_argument("--to-path", type=Path, help="embedded atlas to import into (required with --from-url)")
    p.add_argument("--batch-size", type=int, default=256, help="points per request (default 256)")
    p.add_argument("--shards", type=int, default=DEFAULT_SHARDS, help=f"export: shards (default {DEFAULT_SHARDS})")
    p.add_argument("--replicas", type=int, default=DEFAULT_REPLICAS,
                   help=f"export: copies of each shard (default {DEFAULT_REPLICAS})")
    p.add_argument("--new-model", action="store_true",
                   help="export: switch the alias even though the live version holds another CLIP's vectors")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_migrate)


def run_migrate(args: argparse.Namespace, settings: EngineSettings | None = None) -> int:
    """Run one migration from parsed arguments; returns the process exit code."""
    if settings is None:
        try:
            settings = get_settings()
        except ValidationError as err:
            return _fail(f"invalid settings: {describe_settings_error(err)}", EXIT_USAGE)
    if args.batch_size < 1:
        return _fail(f"--batch-size must be at least 1 (got {args.batch_size})", EXIT_USAGE)
    collection = args.collection or settings.collection
    try:
        if args.to_url:
            src_path = args.from_path or settings.atlas_dir
            dim = stored_dim(src_path)
            if dim is None:
                return _fail(
                    f"no embedded atlas at {src_path}; index one first or pass --from-path", EXIT_USAGE
                )
            n, where = _export(src_path, dim, args.to_url, collection, settings, args)
        else:
            if args.to_path is None:
                return _fail("--from-url needs --to-path DIR (the embedded atlas to write)", EXIT_USAGE)
            n = _import(args.from_url, collection, args.to_path, settings, args)
            where = str(args.to_path)
    except (ValueError, FileNotFoundError, FileExistsError, MigrationError, ServerUnavailable) as err:
        return _fail(str(err), EXIT_FAILED)
    except Exception as err:  # connection refused, auth, server errors: say what, not a traceback
        log.debug("migration failed", exc_info=True)
        url = args.to_url or args.from_url
        return _fail(
            f"{type(err).__name__}: {err} (is the Qdrant server at {url} reachable, and MIRAGE_QDRANT_API_KEY right?)",
            EXIT_FAILED,
        )
    print(f"copied {n} points to {where}")
    return EXIT_OK


def _export(
    src_path: Path, dim: int, url: str, alias: str, settings: EngineSettings, args: argparse.Namespace
) -> tuple[int, str]:
    """Embedded atlas -> a new version behind the server's alias (an interrupted export's version is
    resumed), switched to once complete. The atlas's provenance record goes along (an older atlas's
    sidecar record is moved into it first). Returns the points copied and where they went."""
    server = connect_server(settings, url, alias)  # fails fast: unreachable, or the API key refused
    try:
        with open_embedded_store(settings, src_path, dim) as src:
            current = read_provenance(src) or AtlasProvenance(clip_model=UNRECORDED, dim=dim)
            dst, _ = open_version(settings, server, current, shards=args.shards, replicas=args.replicas)
            n = copy_atlas(src, dst, batch_size=args.batch_size, progress=not args.no_progress)
            switched = finish_version(server, dst, src.count(), allow_new_model=args.new_model)
    finally:
        server.client.close()
    return n, f"{url}; {switched}"


def _import(
    url: str, collection: str, dst_path: Path, settings: EngineSettings, args: argparse.Namespace
) -> int:
    """Server collection -> embedded atlas at `dst_path` (created with the settings' index options)."""
    with (
        open_server_store(settings, url, collection=collection, dim=None) as src,
        open_embedded_store(settings, dst_path, src.dim) as dst,
    ):
        return copy_atlas(src, dst, batch_size=args.batch_size, progress=not args.no_progress)


def _fail(message: str, code: int) -> int:
    print(f"migrate: {message}", file=sys.stderr)
    return code
