"""Reader for a generic figure–caption collection (PMC-OA and the like): JSONL or parquet rows of

    {"id": "PMC1234_fig2", "image": "images/PMC1234_fig2.jpg", "caption": "...",
     "source": "PMC-OA", "licence": "CC BY 4.0"}

- `id` (also `image_id`): the atlas id (letters, digits, `_ . -`);
- the image: `image` / `image_path` (a path, relative to the file's folder), `image_b64` (base64
  bytes, JSONL), or `image` / `image_bytes` as bytes or a {bytes, path} struct (parquet);
- `caption`; `source` (the collection's name, stored with the image; default: the file's stem);
  `licence` / `license`;
- optional: `pmc_id`, `split`, `keywords`, `cuis` (+ `concept_names`), `semtypes`.
Every row becomes an `AtlasItem` or a `SourceProblem` (a line that is not JSON, a bad id); the
licence and language policy and duplicates across collections are engine/atlas/sources.py's.
A file without any licence column/key is said once (`no_licence_column`), and each of its rows has
an unknown licence.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.atlas.items import MALFORMED_LINE, AtlasItem, AtlasSourceError, Item, SourceProblem
from engine.atlas.parquet import _concepts, _image, _keywords, _semantic_types
from engine.atlas.roco import ATLAS_ID, canonical_split

NO_LICENCE_COLUMN = "no_licence_column"
ROWS_PER_BATCH = 64
SUFFIXES = (".jsonl", ".parquet")


class FigureSource:
    """One JSONL or parquet file of figure rows, or a folder of them; iterable as `Item`s."""

    def __init__(self, path: Path) -> None:
        path = Path(path).expanduser()
        if path.is_dir():
            self.files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
            if not self.files:
                raise AtlasSourceError(f"no .jsonl or .parquet files under {path}")
        elif path.is_file():
            if path.suffix not in SUFFIXES:
                raise AtlasSourceError(f"{path}: a figure collection is a .jsonl or .parquet file")
            self.files = [path]
        else:
            raise AtlasSourceError(f"figure collection {str(path)!r} does not exist")
        self.name = path.name
        self._length = sum(_count(f) for f in self.files)

    def __iter__(self) -> Iterator[Item]:
        for path in self.files:
            yield from (_read_jsonl(path) if path.suffix == ".jsonl" else _read_parquet(path))

    def __len__(self) -> int:
        return self._length


def read_figures(path: Path) -> FigureSource:
    """The rows of a figure–caption collection (see the module doc)."""
    return FigureSource(path)


def row_item(values: dict[str, Any], where: str, folder: Path, collection: str = "") -> Item:
    """One row (a dict of the columns above) as an item, or the problem that loses it; the item's
    `source` is the row's `source` when it has one, else `collection` (the file's stem)."""
    atlas_id = str(values.get("id") or values.get("image_id") or "").strip()
    if not ATLAS_ID.match(atlas_id):
        return SourceProblem(where, MALFORMED_LINE, f"bad or missing id {atlas_id!r}")
    image_bytes, image_path = _image(values.get("image") or values.get("image_path") or values.get("image_bytes"),
                                     folder)
    if image_bytes is None and image_path is None and values.get("image_b64"):
        try:
            image_bytes = base64.b64decode(str(values["image_b64"]), validate=True)
        except (binascii.Error, ValueError):
            return SourceProblem(atlas_id, MALFORMED_LINE, f"{where}: image_b64 is not valid base64")
    split = values.get("split")
    licence = values.get("licence") or values.get("license")
    source = str(values.get("source") or "").strip() or collection or None
    return AtlasItem(
        atlas_id=atlas_id,
        caption=str(values.get("caption") or "").strip(),
        split=canonical_split(str(split)) if split else None,
        pmc_id=str(values["pmc_id"]).strip() if values.get("pmc_id") else None,
        licence=str(licence).strip() if licence and str(licence).strip() else None,
        keywords=_keywords(values.get("keywords")),
        concepts=_concepts(values),
        semantic_types=_semantic_types(values),
        image_path=image_path,
        image_bytes=image_bytes,
        image_location=str(image_path) if image_path else where,
        source=source,
    )


def _read_jsonl(path: Path) -> Iterator[Item]:
    saw_licence = False
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                values = json.loads(line)
            except json.JSONDecodeError as e:
                yield SourceProblem(where, MALFORMED_LINE, f"not JSON: {e.msg}")
                continue
            if not isinstance(values, dict):
                yield SourceProblem(where, MALFORMED_LINE, "a row must be a JSON object")
                continue
            saw_licence = saw_licence or "licence" in values or "license" in values
            yield row_item(values, where, path.parent, path.stem)
    if not saw_licence:
        yield SourceProblem(path.name, NO_LICENCE_COLUMN, f"{path.name} has no licence key in any row", fatal=False)


def _read_parquet(path: Path) -> Iterator[Item]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as e:  # not parquet at all
        raise AtlasSourceError(f"{path} is not a readable parquet file: {e}") from e
    names = parquet.schema_arrow.names
    if "caption" not in names or not {"image", "image_path", "image_bytes"} & set(names):
        raise AtlasSourceError(f"{path} lacks a 'caption' and an image column (image, image_path, image_bytes); "
                               f"it has {names}")
    if "licence" not in names and "license" not in names:
        yield SourceProblem(path.name, NO_LICENCE_COLUMN, f"{path.name} has no licence column", fatal=False)
    row = 0
    for batch in parquet.iter_batches(batch_size=ROWS_PER_BATCH):
        data = batch.to_pydict()
        for i in range(batch.num_rows):
            yield row_item({k: v[i] for k, v in data.items()}, f"{path.name}#{row}", path.parent, path.stem)
            row += 1


def _count(path: Path) -> int:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(path).metadata.num_rows
        except Exception as e:
            raise AtlasSourceError(f"{path} is not a readable parquet file: {e}") from e
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())
