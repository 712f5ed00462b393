"""`python -m engine index`: turn ROCO (official layout or a parquet mirror) into the configured atlas.

    python -m engine index --roco ~/roco-dataset --split train --split validation
    python -m engine index --parquet eltorio/ROCO-radiology --split train --batch-size 256 --workers 12

Models and store come from the settings (MIRAGE_CLIP_MODEL, MIRAGE_DATA_DIR, MIRAGE_QDRANT_URL …).
Stopping it (Ctrl-C) at any point and running the same command again finishes the job: stored
points are skipped before decoding, so nothing is embedded twice.
"""

from __future__ import annotations

import argparse
import sys
from itertools import islice
from pathlib import Path
from typing import Any

from engine.atlas.decode import ImageLimits
from engine.atlas.items import SUBSETS, AtlasSourceError
from engine.cli_args import at_least

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def register(subparsers: Any) -> None:
    """Add the `index` subcommand to `python -m engine`."""
    p = subparsers.add_parser(
        "index", help="embed ROCO images into the atlas (resumable)",
        description="Embed ROCO image-caption pairs with CLIP into the configured atlas. Resumable and "
                    "idempotent: run the same command again after an interruption.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--roco", type=Path, metavar="DIR",
                        help="ROCO in its official layout (DIR/data/<split>/<subset>/captions.txt, images/)")
    source.add_argument("--parquet", metavar="PATH_OR_HUB_ID",
                        help="a parquet file, a folder of them, or a hub dataset id (e.g. eltorio/ROCO-radiology)")
    p.add_argument("--split", action="append", dest="splits", metavar="SPLIT",
                   help="train, validation or test; repeat for several (default: every split found)")
    p.add_argument("--subset", action="append", dest="subsets", choices=SUBSETS,
                   help="with --roco: radiology (default) and/or non-radiology")
    p.add_argument("--batch-size", type=at_least(1), default=64, help="images per CLIP batch (default 64)")
    p.add_argument("--workers", type=at_least(0),
                   help="image decoding threads (default: none when CLIP runs on the CPU, else cores up to 8)")
    p.add_argument("--limit", type=at_least(1), metavar="N", help="read only the first N source rows")
    p.add_argument("--max-pixels", type=at_least(1), default=ImageLimits.max_pixels,
                   help=f"refuse larger images (default {ImageLimits.max_pixels})")
    p.add_argument("--report", type=Path, metavar="FILE",
                   help="JSON lines naming every rejected row (default: DATA_DIR/index-report.jsonl)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_index)


def run_index(args: argparse.Namespace) -> int:
    """The `index` command: source → CLIP → store, then build the index; returns the exit status."""
    from engine.config import get_settings
    from engine.models.base import WeightsNotFoundError
    from engine.models.factory import load_models
    from engine.store.factory import open_store
    from engine.store.provenance import AtlasProvenance, record_provenance

    settings = get_settings()
    try:
        # 1. The source first: a wrong path fails in a second, not after loading the model
        source = _open_source(args)
        # 2. The model and the store, as the engine opens them
        clip = load_models(settings, roles=("clip",)).clip
        assert clip is not None
        store = open_store(settings, clip.dim, clip_model=clip.model_id)  # refuses another CLIP's atlas
    except (AtlasSourceError, WeightsNotFoundError, ValueError, FileExistsError) as e:
        print(f"index: error: {e}", file=sys.stderr)  # noqa: T201 - the command's answer
        return EXIT_USAGE
    from engine.atlas.ingest import default_workers, ingest

    report_path = args.report or settings.data_dir / "index-report.jsonl"
    items = islice(source, args.limit) if args.limit else source
    total = min(len(source), args.limit) if args.limit else len(source)
    try:
        # 3. Record whose vectors these are before the first one is stored (an interrupted run stays
        #    guarded); what is indexed here is the user's atlas, never the demo
        record_provenance(store, AtlasProvenance.of(clip.model_id, clip.dim))
        # 4. Ingest, then build the HNSW index once for everything added
        report = ingest(items, store, clip, batch_size=args.batch_size,
                        workers=default_workers(clip) if args.workers is None else args.workers,
                        progress=not args.no_progress, report_path=report_path,
                        max_pixels=args.max_pixels, total=total)
        store.optimize()
        stored = store.count()
    except KeyboardInterrupt:
        print("index: interrupted; the batches stored so far are kept: run the same command again to resume",
              file=sys.stderr)  # noqa: T201
        return EXIT_INTERRUPTED
    finally:
        store.close()
    print(report.summary())  # noqa: T201
    print(f"atlas: {stored} images")  # noqa: T201
    return 0


def _open_source(args: argparse.Namespace):
    if args.roco is not None:
        from engine.atlas.roco import read_roco_layout

        return read_roco_layout(args.roco, splits=args.splits, subsets=args.subsets or ("radiology",))
    if args.subsets:
        raise AtlasSourceError("--subset applies to --roco only; parquet mirrors hold the radiology subset")
    from engine.atlas.parquet import read_parquet

    return read_parquet(args.parquet, splits=args.splits)
