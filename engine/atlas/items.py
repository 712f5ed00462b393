"""What the dataset readers yield: atlas items, and the problems they met in the source files.

Readers (`roco.py`, `parquet.py`) never raise on bad data: a line they cannot read becomes a
`SourceProblem`, and `ingest` counts it and writes it to the report. Problems with the images
themselves (missing, corrupt, too large) are found later, while decoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Reasons an item is not stored (or a source line is not used); the keys of IngestReport.rejected.
MALFORMED_LINE = "malformed_line"
EMPTY_CAPTION = "empty_caption"
DUPLICATE_ID = "duplicate_id"
MISSING_IMAGE = "missing_image"
CORRUPT_IMAGE = "corrupt_image"
DECOMPRESSION_BOMB = "decompression_bomb"
IMAGE_TOO_LARGE = "image_too_large"

SPLITS = ("train", "validation", "test")
SUBSETS = ("radiology", "non-radiology")


@dataclass(frozen=True)
class Concept:
    """One UMLS concept of a caption: its CUI, and its name and semantic type (a TUI) where the source says."""

    cui: str
    name: str | None = None
    semtype: str | None = None


@dataclass(frozen=True)
class AtlasItem:
    """One image–caption pair from a source, before decoding. The image is a file or bytes."""

    atlas_id: str
    caption: str
    split: str | None = None
    subset: str | None = None
    pmc_id: str | None = None
    licence: str | None = None
    keywords: tuple[str, ...] = ()
    semtypes: tuple[str, ...] = ()
    # UMLS concepts (cuis.txt, ROCOv2's concept files, parquet columns) and ROCO's per-image semantic
    # types as (TUI, name) pairs; ROCO does not say which CUI has which type (engine/atlas/concepts.py)
    concepts: tuple[Concept, ...] = ()
    semantic_types: tuple[tuple[str, str | None], ...] = ()
    image_path: Path | None = None
    image_bytes: bytes | None = field(default=None, repr=False)
    # Where the original image lives, as stored in the payload's `image_path` (a file, or file#row).
    image_location: str | None = None
    # The collection the image comes from ("ROCO", "ROCOv2", a figure file's `source` or its stem),
    # stored in the payload; `ingest` refuses an id the atlas already holds from another collection.
    source: str | None = None


@dataclass(frozen=True)
class SourceProblem:
    """Bad data met while reading a source. `fatal`: the item is lost; otherwise only a field is."""

    where: str  # the atlas id when known, else "file:line"
    reason: str
    detail: str
    fatal: bool = True


Item = AtlasItem | SourceProblem


class AtlasSourceError(ValueError):
    """A source cannot be read at all (no such directory, no captions file, hub unreachable)."""
