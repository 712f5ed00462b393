"""`python -m engine index`: turn ROCO, ROCOv2 and figure collections into the configured atlas.

    python -m engine index --roco ~/roco-dataset --split train --split validation
    python -m engine index --parquet eltorio/ROCO-radiology --split train --batch-size 256 --workers 12
    python -m engine index --parquet eltorio/ROCO-radiology --licences ~/roco-dataset   # PMC ids, licences
    python -m engine index --list-versions                                               # Qdrant server
    python -m engine index --rocov2 ~/rocov2                     # ROCOv2 (CSV captions and concepts)
    python -m engine index --figures pmcoa.jsonl --figures more.parquet   # generic {id, image, caption, licence}
    python -m engine index --roco ~/roco-dataset --figures pmcoa.jsonl       # several collections, one run
    python -m engine index --concepts-only --roco ~/roco-dataset     # CUIs into an existing atlas, no CLIP

Models and store come from the settings (MIRAGE_CLIP_MODEL, MIRAGE_DATA_DIR, MIRAGE_QDRANT_URL …).
Stopping it (Ctrl-C) at any point and running the same command again finishes the job: stored
points are skipped before decoding, so nothing is embedded twice. Against a Qdrant server each run
builds a new version of the atlas and switches the alias the engines read (MIRAGE_COLLECTION) to it
only once it is complete (engine/store/versioned.py): re-indexing needs no downtime. That version
holds only this run's images, so on a server every collection goes into ONE run (engine/atlas/open_sources.py).
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from engine.atlas.decode import ImageLimits
from engine.atlas.items import SUBSETS, AtlasSourceError
from engine.atlas.open_sources import open_source, source_problem
from engine.cli_args import at_least
from engine.store.versions import DEFAULT_REPLICAS, DEFAULT_SHARDS

if TYPE_CHECKING:
    from collections.abc import Callable

    from engine.config import EngineSettings
    from engine.store.versioned import Server

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def register(subparsers: Any) -> None:
    """Add the `index` subcommand to `python -m engine`."""
    p = subparsers.add_parser(
        "index", help="embed ROCO, ROCOv2 and figure collections into the atlas (resumable)",
        description="Embed image-caption pairs with CLIP into the configured atlas. Resumable and idempotent: "
                    "run the same command again after an interruption. On a Qdrant server each run builds a new "
                    "version holding only that run's images: give every collection in ONE run.")
    source = p.add_argument_group("sources", "--roco, --rocov2 and --figures may be given together (one atlas of "
                                  "several collections; an id in two is refused naming both); --parquet and "
                                  "--list-versions stand alone")
    source.add_argument("--roco", type=Path, metavar="DIR",
                        help="ROCO in its official layout (DIR/data/<split>/<subset>/captions.txt, images/); stored as in "
                             "a ROCO-only run (licence from --licences, else none), not screened for licence or language")
    source.add_argument("--parquet", metavar="PATH_OR_HUB_ID",
                        help="a parquet file, a folder of them, or a hub dataset id (e.g. eltorio/ROCO-radiology)")
    source.add_argument("--rocov2", type=Path, metavar="DIR",
                        help="ROCOv2's layout (DIR/<split>_captions.csv, <split>_concepts.csv, <split>/*.jpg); "
                             "screened: an unknown licence is refused, an other-language caption skipped")
    source.add_argument("--figures", type=Path, action="append", metavar="PATH",
                        help="a figure-caption collection: JSONL or parquet rows of {id, image, caption, source, "
                             "licence} (engine/atlas/figures.py); repeat for several; screened as --rocov2")
    source.add_argument("--list-versions", action="store_true",
                        help="Qdrant server: list the atlas versions of MIRAGE_COLLECTION (* = live)")
    p.add_argument("--concepts-only", action="store_true",
                   help="give the existing atlas its UMLS concepts (cuis.txt, semtypes.txt, ROCOv2 concept files, "
                        "parquet columns) from the source, without loading CLIP or re-embedding anything")
    p.add_argument("--licences", type=Path, metavar="ROCO_DIR",
                   help="with --roco or --parquet: join PMC ids and licences from ROCO's licences.txt files (a ROCO "
                        "folder or one file) into ROCO's images only; stored ones still without one are counted")
    p.add_argument("--allow-unknown-licences", action="store_true",
                   help="with --rocov2/--figures (not ROCO): store images whose licence is missing or not a "
                        "recognised open licence (counted as warnings) instead of refusing them")
    p.add_argument("--shards", type=at_least(1), default=DEFAULT_SHARDS,
                   help=f"Qdrant server: shards of a new version (default {DEFAULT_SHARDS}: two per node on 3 nodes)")
    p.add_argument("--replicas", type=at_least(1), default=DEFAULT_REPLICAS,
                   help=f"Qdrant server: copies of each shard (default {DEFAULT_REPLICAS}: one node may be down)")
    p.add_argument("--new-model", action="store_true",
                   help="Qdrant server: switch the alias even though the live version holds another CLIP's vectors")
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
    p.set_defaults(func=partial(run_index, usage=p.error))


def run_index(args: argparse.Namespace, usage: Callable[[str], NoReturn] | None = None) -> int:
    """The `index` command: source → CLIP → store (a new version on a server), then build the index or
    switch the alias; returns the exit status. Source flags that cannot go together are a usage error
    (`usage`: the parser's, exiting 2 with the usage line)."""
    problem = source_problem(args)
    if problem is not None:
        if usage is not None:
            usage(problem)
        return _fail(problem, EXIT_USAGE)
    from pydantic import ValidationError

    from engine.config import describe_settings_error, get_settings
    from engine.models.base import WeightsNotFoundError
    from engine.store.versioned import connect_server
    from engine.store.versions import ServerUnavailable

    try:
        settings = get_settings()
    except ValidationError as e:  # the one settings message every command prints, never a traceback
        return _fail(f"invalid settings: {describe_settings_error(e)}", EXIT_USAGE)
    server: Server | None = None
    try:
        # 0. A Qdrant server first: unreachable or refusing the key fails in seconds, naming both
        if settings.qdrant_url:
            server = connect_server(settings)
        if args.list_versions:
            return _versions(args, server)
        if args.concepts_only:
            return _concepts_only(args, settings)
        return _index(args, settings, server)
    except ServerUnavailable as e:
        return _fail(str(e), EXIT_FAILED)
    except (AtlasSourceError, WeightsNotFoundError, ValueError, FileExistsError) as e:
        return _fail(str(e), EXIT_USAGE)
    finally:
        if server is not None:
            server.client.close()


def _index(args: argparse.Namespace, settings: EngineSettings, server: Server | None) -> int:
    from engine.atlas.ingest import default_workers, ingest
    from engine.models.factory import load_models
    from engine.store.factory import open_store
    from engine.store.provenance import AtlasProvenance, record_provenance
    from engine.store.versioned import finish_version, open_version
    from engine.store.versions import VersionError

    # 1. The sources first: a wrong path fails in a second, not after loading the model
    opened = open_source(args)
    # 2. The model and the store, as the engine opens them (refusing another CLIP's atlas)
    clip = load_models(settings, roles=("clip",)).clip
    assert clip is not None
    current = AtlasProvenance.of(clip.model_id, clip.dim)  # the user's atlas, never the demo
    if server is not None:
        store, resumed = open_version(settings, server, current, shards=args.shards, replicas=args.replicas)
        version = getattr(store, "collection", "?")  # a server store names its collection
        print(f"{'resuming' if resumed else 'building'} version {version!r} on {server.url}")  # noqa: T201
    else:
        store = open_store(settings, clip.dim, clip_model=clip.model_id)
    report_path = args.report or settings.data_dir / "index-report.jsonl"
    items, total, join = opened.stream(args.limit), opened.total(args.limit), opened.join
    try:
        # 3. Record whose vectors these are before the first one is stored (an interrupted run stays guarded)
        record_provenance(store, current)
        # 4. Ingest, then build the HNSW index once for everything added
        report = ingest(items, store, clip, batch_size=args.batch_size,
                        workers=default_workers(clip) if args.workers is None else args.workers,
                        progress=not args.no_progress, report_path=report_path,
                        max_pixels=args.max_pixels, total=total)
        store.optimize()
        stored = store.count()
        if join is not None:
            join.count_stored(report, store)  # rows still without a licence, in the report
        # 5. On a server: check the version, then switch the alias the engines read
        expected = report.added + report.skipped_existing  # every image this version should hold
        switched = finish_version(server, store, expected, allow_new_model=args.new_model) if server else None
    except KeyboardInterrupt:
        print("index: interrupted; the batches stored so far are kept: run the same command again to resume",
              file=sys.stderr)  # noqa: T201
        return EXIT_INTERRUPTED
    except VersionError as e:
        print(report.summary())  # noqa: T201
        return _fail(str(e), EXIT_FAILED)
    finally:
        if server is None:
            store.close()  # a server's client is closed by the caller
    print(report.summary())  # noqa: T201
    print(f"atlas: {stored} images")  # noqa: T201
    if switched:
        print(switched)  # noqa: T201
    return 0


def _concepts_only(args: argparse.Namespace, settings: EngineSettings) -> int:
    """Set the concepts of every point of the configured atlas (the live version on a server) from the
    source's concept files; vectors and images are kept as stored."""
    from engine.atlas.concepts import find_concepts, table_payload
    from engine.atlas.items import AtlasItem, SourceProblem
    from engine.store.backfill import backfill_concepts
    from engine.store.edge import stored_dim
    from engine.store.factory import open_embedded_store, open_server_store

    # 1. The concepts of the source: every concept file of a ROCO tree, or a parquet mirror's columns
    if args.roco is not None:
        problems: list[SourceProblem] = []
        table = find_concepts(args.roco, problems)
        if not table:
            return _fail(f"no concept files (cuis.txt, semtypes.txt, *concepts*.csv) under {args.roco}", EXIT_USAGE)
        found = {atlas_id: table_payload(table, atlas_id) for atlas_id in table.ids()}
    else:
        from engine.atlas.concepts import concept_payload

        found = {i.atlas_id: concept_payload(i) for i in open_source(args, join_licences=False).source
                 if isinstance(i, AtlasItem) and (i.concepts or i.semantic_types)}
        if not found:
            named = args.parquet or args.rocov2 or ", ".join(map(str, args.figures))
            return _fail(f"{named} has no concepts (parquet columns cuis, semtypes; ROCOv2 concept files)", EXIT_USAGE)
    # 2. The atlas as it is (never created here), then every point rewritten with its concepts
    if settings.qdrant_url:
        store = open_server_store(settings, settings.qdrant_url, collection=settings.collection, dim=None)
    elif stored_dim(settings.atlas_dir) is None:
        return _fail(f"no atlas at {settings.atlas_dir}: run `engine index` first", EXIT_USAGE)
    else:
        store = open_embedded_store(settings, settings.atlas_dir, stored_dim(settings.atlas_dir) or 1)
    try:
        report = backfill_concepts(store, found.get)
    finally:
        store.close()
    print(report.summary())  # noqa: T201
    return 0


def _versions(args: argparse.Namespace, server: Server | None) -> int:
    from engine.store.versioned import versions_report

    if server is None:
        return _fail("atlas versions live on a Qdrant server: set MIRAGE_QDRANT_URL", EXIT_USAGE)
    print(versions_report(server))  # noqa: T201
    return 0


def _fail(message: str, code: int) -> int:
    print(f"index: error: {message}", file=sys.stderr)  # noqa: T201 - the command's answer
    return code

