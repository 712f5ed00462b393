"""Reader for ROCO's parquet mirrors on the Hugging Face hub (e.g. `eltorio/ROCO-radiology`).

Columns: `image` (a struct {bytes, path} as `datasets` writes it, or raw bytes), `image_id`, `caption`;
optional `keywords`, `pmc_id`, `licence`/`license`, and concepts where a mirror has them: `cuis`
(or `cui`/`concepts`: a list or a ";"-separated string of CUIs), `semtypes`/`semantic_types` (TUIs,
names or both), `concept_names` (names in the order of the CUIs). Files are streamed in record batches, so a
multi-GB split never sits in memory at once. The split of a file comes from its name
(`train-00000-of-00004.parquet`, `validation.parquet`) or its folder (`test/….parquet`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from engine.atlas.concepts import CUI, TUI, split_values
from engine.atlas.items import (
    MALFORMED_LINE,
    SPLITS,
    AtlasItem,
    AtlasSourceError,
    Concept,
    Item,
    SourceProblem,
)
from engine.atlas.roco import ATLAS_ID, ROCO, canonical_split

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
ID_COLUMNS = ("image_id", "id", "roco_id")
OPTIONAL_COLUMNS = ("keywords", "pmc_id", "licence", "license", "cuis", "cui", "concepts", "semtypes",
                    "semantic_types", "concept_names")
ROWS_PER_BATCH = 64


class ParquetSource:
    """Parquet files (each with its split), iterable as `Item`s; `len()` is the rows in the metadata."""

    def __init__(self, files: Sequence[tuple[Path, str | None]]) -> None:
        import pyarrow.parquet as pq

        self.files = list(files)
        self._length = 0
        for path, _ in self.files:
            try:
                meta = pq.ParquetFile(path)
            except Exception as e:  # not parquet at all: nothing of it can be read
                raise AtlasSourceError(f"{path} is not a readable parquet file: {e}") from e
            names = meta.schema_arrow.names
            if "caption" not in names or "image" not in names:
                raise AtlasSourceError(f"{path} lacks the 'image' and 'caption' columns; it has {names}")
            self._length += meta.metadata.num_rows

    def __iter__(self) -> Iterator[Item]:
        for path, split in self.files:
            yield from _read_file(path, split)

    def __len__(self) -> int:
        return self._length


def read_parquet(source: str | Path, *, splits: Sequence[str] | None = None,
                 cache_dir: Path | None = None) -> ParquetSource:
    """The items of a parquet file, a directory of them, or a hub dataset id (downloaded, then cached)."""
    wanted = [canonical_split(s) for s in splits] if splits else None
    path = Path(source).expanduser()
    if path.is_file():
        split = split_of(path) or (wanted[0] if wanted and len(wanted) == 1 else None)
        return ParquetSource([(path, split)])
    if path.is_dir():
        return ParquetSource(_select_files(path, wanted))
    if isinstance(source, str) and REPO_ID.match(source):
        return ParquetSource(_select_files(_download(source, wanted, cache_dir), wanted))
    raise AtlasSourceError(f"parquet source {str(source)!r} is neither a file, a directory nor a hub dataset id")


def split_of(path: Path) -> str | None:
    """The split a parquet file belongs to, from its name or its folder; None if neither says."""
    stem = path.name.removesuffix(".parquet")
    for candidate in (re.split(r"[-_.]", stem)[0], stem, path.parent.name):
        split = canonical_split(candidate)
        if split in SPLITS:
            return split
    return None


def _select_files(root: Path, wanted: Sequence[str] | None) -> list[tuple[Path, str | None]]:
    files = [(p, split_of(p)) for p in sorted(root.rglob("*.parquet")) if p.is_file()]
    if not files:
        raise AtlasSourceError(f"no .parquet files under {root}")
    if wanted is None:
        return files
    found = sorted({s for _, s in files if s})
    missing = [s for s in wanted if s not in found]
    if missing:
        raise AtlasSourceError(f"split(s) {missing} have no parquet files under {root}; found splits: {found}")
    return [(p, s) for p, s in files if s in wanted]


def _download(repo_id: str, wanted: Sequence[str] | None, cache_dir: Path | None) -> Path:
    """snapshot_download of the dataset's parquet files for the wanted splits (from the cache when offline)."""
    from huggingface_hub import snapshot_download

    from engine.models.hub import is_offline

    patterns = ["*.parquet"] if wanted is None else [
        pattern for s in wanted for pattern in (f"*{s}-*.parquet", f"*{s}.parquet", f"*{s}/*.parquet")
    ]
    offline = is_offline()
    try:
        local = snapshot_download(repo_id, repo_type="dataset", allow_patterns=patterns,
                                  cache_dir=cache_dir, local_files_only=offline)
    except Exception as e:  # the hub's errors are many (offline, not found, gated, network): one message
        how = "HF_HUB_OFFLINE is set and it is not in the local cache" if offline else "download failed"
        raise AtlasSourceError(
            f"cannot get the parquet files of hub dataset {repo_id!r} ({how}: {type(e).__name__}: {e}). "
            "Download them where there is a network and pass the folder: --parquet DIR"
        ) from e
    return Path(local)


def _read_file(path: Path, split: str | None) -> Iterator[Item]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    names = parquet.schema_arrow.names
    id_column = next((c for c in ID_COLUMNS if c in names), None)
    columns = ["image", "caption", *([id_column] if id_column else []), *(c for c in OPTIONAL_COLUMNS if c in names)]
    row = 0
    for batch in parquet.iter_batches(batch_size=ROWS_PER_BATCH, columns=columns):
        data = {name: batch.column(name).to_pylist() for name in columns}
        for i in range(batch.num_rows):
            yield _item(path, split, row, {name: values[i] for name, values in data.items()}, id_column)
            row += 1


def _item(path: Path, split: str | None, row: int, values: dict[str, Any], id_column: str | None) -> Item:
    where = f"{path.name}#{row}"
    image_bytes, image_path = _image(values["image"], path.parent)
    if id_column:
        atlas_id = str(values.get(id_column) or "").strip()
    else:  # no id column: the image's file name (datasets keeps it), else file and row (stable for a file)
        name = values["image"].get("path") if isinstance(values["image"], dict) else None
        atlas_id = Path(name).stem if name else f"{path.stem}-{row}"
    if not ATLAS_ID.match(atlas_id):
        return SourceProblem(where, MALFORMED_LINE, f"bad or missing image id {values.get(id_column) if id_column else None!r}")
    licence = values.get("licence") or values.get("license")
    return AtlasItem(
        atlas_id=atlas_id,
        caption=(values.get("caption") or "").strip(),
        split=split,
        pmc_id=values.get("pmc_id") or None,
        licence=licence or None,
        keywords=_keywords(values.get("keywords")),
        concepts=_concepts(values),
        semantic_types=_semantic_types(values),
        image_path=image_path,
        image_bytes=image_bytes,
        image_location=where,
        source=ROCO,
    )


def _image(value: Any, folder: Path) -> tuple[bytes | None, Path | None]:
    """(bytes, path) from an `image` cell: a {bytes, path} struct, raw bytes, a path string, or null."""
    if isinstance(value, dict):
        if value.get("bytes"):
            return value["bytes"], None
        value = value.get("path")
    if isinstance(value, bytes | bytearray):
        return bytes(value) or None, None
    if isinstance(value, str) and value:
        return None, folder / value
    return None, None


def _keywords(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        value = re.split(r"[,;\t]", value)
    return tuple(str(v).strip() for v in value if str(v).strip())


def _concepts(values: dict[str, Any]) -> tuple[Concept, ...]:
    """CUIs of the first concept column present (values that are not CUIs dropped), named when a
    `concept_names` column lists names in the same order."""
    raw = next((values[c] for c in ("cuis", "cui", "concepts") if values.get(c)), None)
    cuis = [v for v in split_values(raw) if CUI.match(v)]
    names = split_values(values.get("concept_names"))
    named = len(names) == len(cuis)
    return tuple(Concept(cui, names[i] if named else None) for i, cui in enumerate(dict.fromkeys(cuis)))


def _semantic_types(values: dict[str, Any]) -> tuple[tuple[str, str | None], ...]:
    """(TUI, name) pairs from `semtypes`/`semantic_types`: "T047", "T047 Disease or Syndrome", or T047, name."""
    pairs: list[tuple[str, str | None]] = []
    raw = values.get("semtypes") or values.get("semantic_types")
    for value in split_values(raw):
        code, _, rest = value.partition(" ")
        if TUI.match(code):
            pairs.append((code, rest.strip() or None))
        elif pairs and pairs[-1][1] is None:
            pairs[-1] = (pairs[-1][0], value)
    return tuple(dict.fromkeys(pairs))
