"""What one `engine index` run reads: the source flags checked together, then the readers opened.

`--roco DIR`, `--rocov2 DIR` and `--figures PATH` (repeatable) may be given together: one run then
fills one atlas with several collections, which is the only way to hold them together on a Qdrant
server (each run builds a new version holding just that run's images). `--parquet` and
`--list-versions` stand alone. Opening a run's sources:
1. the readers, so a wrong path fails in a second, before the model loads;
2. ROCO's licences (`--licences ROCO_DIR`), joined into the ROCO or parquet mirror's images only;
3. ROCO alone (or a parquet mirror) is read exactly as it always was; several collections become one
   `Collections` (engine/atlas/sources.py): ROCO among them is not screened for language or licence
   (its images are stored as a ROCO-only run stores them, licences joined first), ROCOv2 and figure
   collections are; an id in two of them is refused naming both.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from engine.atlas.items import AtlasSourceError, Item

if TYPE_CHECKING:
    from engine.atlas.licences import LicenceJoin

COLLECTION_FLAGS = ("--roco", "--rocov2", "--figures")  # may be given together
ALONE_FLAGS = ("--parquet", "--list-versions")  # each stands alone


class SizedItems(Protocol):
    """A reader: its items, and how many rows it has (the progress bar's total)."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Item]: ...


def source_problem(args: argparse.Namespace) -> str | None:
    """Why the source flags of `args` cannot go together (said as a usage error), or None when they can."""
    collections = [flag for flag, given in zip(COLLECTION_FLAGS, (args.roco, args.rocov2, args.figures), strict=True)
                   if given]
    alone = [flag for flag, given in zip(ALONE_FLAGS, (args.parquet, args.list_versions), strict=True) if given]
    if not collections and not alone:
        return "give a source: --roco, --rocov2 and/or --figures (together in one run), or --parquet, or --list-versions"
    if alone and (collections or len(alone) > 1):
        others = [flag for flag in (*alone, *collections) if flag != alone[0]]
        return f"{alone[0]} cannot be combined with {', '.join(others)}: it stands alone " \
               "(only --roco, --rocov2 and --figures go together in one run)"
    if args.concepts_only and len(collections) > 1:
        return f"--concepts-only reads one source at a time, not {' and '.join(collections)}"
    if args.licences is not None and args.roco is None and args.parquet is None:
        return "--licences joins ROCO's licences.txt into --roco or --parquet images; ROCOv2 and figure " \
               "collections carry their own licences"
    return None


@dataclass
class Opened:
    """A run's sources, opened: the items to read, and ROCO's licence join (whose `count_stored`
    counts the stored images still without a licence); `joined`: the join is already inside `source`."""

    source: SizedItems
    join: LicenceJoin | None = None
    joined: bool = False

    def total(self, limit: int | None) -> int:
        """How many rows the run reads (for the progress bar)."""
        return min(len(self.source), limit) if limit else len(self.source)

    def stream(self, limit: int | None) -> Iterable[Item]:
        """The first `limit` rows (all without one), with ROCO's licences joined in."""
        items: Iterable[Item] = islice(self.source, limit) if limit else self.source
        return self.join(items) if self.join is not None and not self.joined else items


class _Joined:
    """A ROCO reader with its licences joined in as it streams, still sized."""

    def __init__(self, items: SizedItems, join: LicenceJoin) -> None:
        self.items, self.join = items, join

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.join(self.items))


def open_source(args: argparse.Namespace, *, join_licences: bool = True) -> Opened:
    """The readers of `args`'s sources (raising AtlasSourceError for one that cannot be read), with
    `--licences` joined unless `join_licences` is off (`--concepts-only` needs no licences)."""
    # 1. The readers first: a wrong path fails before anything else is read
    if args.parquet is not None:
        if args.subsets:
            raise AtlasSourceError("--subset applies to --roco only; parquet mirrors hold the radiology subset")
        from engine.atlas.parquet import read_parquet

        readers: list[tuple[str, SizedItems, bool]] = [("parquet", read_parquet(args.parquet, splits=args.splits),
                                                         False)]
    else:
        readers = _collection_readers(args)
    # 2. ROCO's licences, for the ROCO or parquet mirror's images only
    join = _licence_join(args.licences) if args.licences and join_licences else None
    # 3. One ROCO or parquet source as always; several collections under one policy
    if len(readers) == 1 and not readers[0][2]:
        return Opened(readers[0][1], join)
    from engine.atlas.sources import Collections, NamedSource

    sources = [NamedSource(name, _Joined(items, join) if join is not None and not screened else items, screened)
               for name, items, screened in readers]
    return Opened(Collections(sources, allow_unknown_licences=args.allow_unknown_licences), join, joined=True)


def _collection_readers(args: argparse.Namespace) -> list[tuple[str, SizedItems, bool]]:
    """(name, reader, screened) for --roco, --rocov2 and every --figures, in that order (the first
    collection to bring an id keeps it)."""
    if args.subsets and args.roco is None:
        raise AtlasSourceError("--subset applies to --roco only")
    readers: list[tuple[str, SizedItems, bool]] = []
    if args.roco is not None:
        from engine.atlas.roco import read_roco_layout

        roco = read_roco_layout(args.roco, splits=args.splits, subsets=args.subsets or ("radiology",))
        readers.append((f"ROCO {args.roco}", roco, False))
    if args.rocov2 is not None:
        from engine.atlas.rocov2 import read_rocov2_layout

        readers.append((f"ROCOv2 {args.rocov2}", read_rocov2_layout(args.rocov2, splits=args.splits), True))
    if args.figures:
        from engine.atlas.figures import read_figures

        readers += [(str(path), read_figures(path), True) for path in args.figures]
    return readers


def _licence_join(root: Path) -> LicenceJoin:
    from engine.atlas.licences import LicenceJoin, read_licence_files

    return LicenceJoin(*read_licence_files(root))
