"""Reader for ROCO's official layout (docs/ARCHITECTURE.md §4).

    root/data/<split>/<radiology|non-radiology>/
        captions.txt   ROCO_00020<TAB> caption            (note the space after the tab)
        licences.txt   ROCO_ID,PMC_ID,CC                  (CSV, usually with that header)
        keywords.txt   ROCO_00020<TAB><TAB>kw<TAB>kw ...
        semtypes.txt   ROCO_00020<TAB><TAB>T060<TAB>Diagnostic Procedure ...
        cuis.txt       ROCO_00020<TAB><TAB>C0040405<TAB>C0577559 ...   (0–20 CUIs, engine/atlas/concepts.py)
        images/ROCO_00020.jpg
    a CUI mapping (ROCOv2's cui_mapping.csv: CUI, Canonical name) in the folder or above it names the CUIs.

Files are read line by line; a line that cannot be parsed becomes a `SourceProblem` (fatal for a
caption line, not for a licence/keyword line: the item then just lacks that field).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from engine.atlas.concepts import mapping_near, read_concept_dir
from engine.atlas.items import (
    MALFORMED_LINE,
    SPLITS,
    SUBSETS,
    AtlasItem,
    AtlasSourceError,
    Item,
    SourceProblem,
)

# The collection name stored with every ROCO image (the parquet mirrors hold ROCO too).
ROCO = "ROCO"
ATLAS_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
PMC_ID = re.compile(r"^PMC\d+")
SEMTYPE_CODE = re.compile(r"^T\d{3}$")
SPLIT_ALIASES = {"val": "validation", "valid": "validation", "dev": "validation"}


class RocoLayout:
    """The selected split/subset directories of a ROCO tree, iterable as `Item`s.

    `len()` is the number of caption lines (for a progress bar), counted on first use.
    """

    def __init__(self, root: Path, *, splits: Sequence[str] | None = None,
                 subsets: Sequence[str] | None = ("radiology",)) -> None:
        self.data_dir = _data_dir(Path(root))
        self.dirs = _select_dirs(self.data_dir, splits, subsets)
        self._length: int | None = None

    def __iter__(self) -> Iterator[Item]:
        for split, subset, path in self.dirs:
            yield from _read_dir(path, split, subset, self.data_dir)

    def __len__(self) -> int:
        if self._length is None:
            self._length = sum(_count_lines(_find_file(path, "captions")) for _, _, path in self.dirs)
        return self._length


def read_roco_layout(root: Path, *, splits: Sequence[str] | None = None,
                     subsets: Sequence[str] | None = ("radiology",)) -> RocoLayout:
    """The items of a ROCO tree (root or root/data), limited to `splits` (None: all) and `subsets`."""
    return RocoLayout(root, splits=splits, subsets=subsets)


def canonical_split(name: str) -> str:
    """"val"/"valid"/"dev" → "validation"; other names unchanged (lower-cased)."""
    name = name.strip().lower()
    return SPLIT_ALIASES.get(name, name)


# ---- selecting directories -------------------------------------------------------------------------


def _data_dir(root: Path) -> Path:
    if not root.is_dir():
        raise AtlasSourceError(f"ROCO root {str(root)!r} is not a directory")
    data = root / "data"
    return data if data.is_dir() else root


def _select_dirs(data_dir: Path, splits: Sequence[str] | None,
                 subsets: Sequence[str] | None) -> list[tuple[str, str, Path]]:
    present = sorted((p.name for p in data_dir.iterdir() if p.is_dir()),
                     key=lambda s: (SPLITS.index(s) if s in SPLITS else len(SPLITS), s))
    wanted_subsets = list(subsets) if subsets else list(SUBSETS)
    for subset in wanted_subsets:
        if subset not in SUBSETS:
            raise AtlasSourceError(f"subset {subset!r} is not one of {list(SUBSETS)}")
    if splits:
        wanted_splits = [canonical_split(s) for s in splits]
        missing = [s for s in wanted_splits if s not in present]
        if missing:
            raise AtlasSourceError(f"split(s) {missing} not found under {data_dir}; found: {present}")
    else:
        wanted_splits = [s for s in present if any((data_dir / s / sub).is_dir() for sub in wanted_subsets)]

    selected = []
    for split in wanted_splits:
        found = [(split, sub, data_dir / split / sub) for sub in wanted_subsets if (data_dir / split / sub).is_dir()]
        if splits and not found:
            raise AtlasSourceError(f"split {split!r} under {data_dir} has none of the subsets {wanted_subsets}")
        selected.extend(found)
    if not selected:
        raise AtlasSourceError(
            f"no <split>/<subset> directories for subsets {wanted_subsets} under {data_dir}; found: {present}"
        )
    for _, _, path in selected:
        if _find_file(path, "captions") is None:
            raise AtlasSourceError(f"{path} has no captions.txt")
    return selected


def _find_file(directory: Path, stem: str) -> Path | None:
    """`stem.txt`, else a revised variant such as `stem_tp_test_revised.txt` (the upstream repo has both)."""
    exact = directory / f"{stem}.txt"
    if exact.is_file():
        return exact
    variants = sorted(directory.glob(f"{stem}_*.txt"))
    return variants[0] if variants else None


def _count_lines(path: Path | None) -> int:
    if path is None:
        return 0
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


# ---- reading one directory -------------------------------------------------------------------------


def _read_dir(path: Path, split: str, subset: str, data_dir: Path) -> Iterator[Item]:
    problems: list[SourceProblem] = []
    licences = read_licences(_find_file(path, "licences"), data_dir, problems)
    keywords = _read_tabbed(_find_file(path, "keywords"), data_dir, problems, names_only=False)
    concepts = read_concept_dir(path, problems, base=data_dir)  # cuis.txt, semtypes.txt, ROCOv2 CSVs
    concepts.merge(type(concepts)(known=mapping_near(path, data_dir.parent)))
    yield from problems

    captions = _find_file(path, "captions")
    assert captions is not None  # checked in _select_dirs
    where = captions.relative_to(data_dir)
    images = path / "images"
    for lineno, line in _lines(captions):
        atlas_id, sep, caption = line.partition("\t")
        atlas_id = atlas_id.strip()
        if not sep or not ATLAS_ID.match(atlas_id):
            yield SourceProblem(f"{where}:{lineno}", MALFORMED_LINE,
                                f"expected 'ROCO_ID<TAB>caption', got {line[:80]!r}")
            continue
        pmc_id, licence = licences.get(atlas_id, (None, None))
        image = images / f"{atlas_id}.jpg"
        yield AtlasItem(
            atlas_id=atlas_id,
            caption=caption.strip(),
            split=split,
            subset=subset,
            pmc_id=pmc_id,
            licence=licence,
            keywords=keywords.get(atlas_id, ()),
            semtypes=tuple(name for _, name in concepts.semtypes.get(atlas_id, ()) if name),
            concepts=concepts.concepts_of(atlas_id),
            semantic_types=concepts.semantic_types_of(atlas_id),
            image_path=image,
            image_location=str(image),
            source=ROCO,
        )


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line without newline) for every non-blank line; bad UTF-8 is replaced, not fatal."""
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if line.strip():
                yield lineno, line


def read_licences(path: Path | None, data_dir: Path,
                   problems: list[SourceProblem]) -> dict[str, tuple[str | None, str | None]]:
    """atlas id → (PMC id, licence). The PMC_ID column also carries the figure's file name; we keep the id."""
    if path is None:
        return {}
    out: dict[str, tuple[str | None, str | None]] = {}
    where = path.relative_to(data_dir)
    first = True
    for lineno, line in _lines(path):
        fields = next(csv.reader([line] if "," in line else [line.replace("\t", ",")]))
        fields = [f.strip() for f in fields]
        if first and not any(ch.isdigit() for ch in line):
            first = False
            continue  # the header
        first = False
        if len(fields) < 2 or not ATLAS_ID.match(fields[0]) or not fields[1]:
            problems.append(SourceProblem(f"{where}:{lineno}", MALFORMED_LINE,
                                          f"expected 'ROCO_ID,PMC_ID,CC', got {line[:80]!r}", fatal=False))
            continue
        match = PMC_ID.match(fields[1])
        licence = ",".join(fields[2:]).strip() or None
        out[fields[0]] = (match.group(0) if match else fields[1], licence)
    return out


def _read_tabbed(path: Path | None, data_dir: Path, problems: list[SourceProblem], *,
                 names_only: bool) -> dict[str, tuple[str, ...]]:
    """atlas id → values of a `ID<TAB><TAB>v<TAB>v…` file; with `names_only`, UMLS codes (T060) are dropped."""
    if path is None:
        return {}
    out: dict[str, tuple[str, ...]] = {}
    where = path.relative_to(data_dir)
    for lineno, line in _lines(path):
        atlas_id, sep, rest = line.partition("\t")
        atlas_id = atlas_id.strip()
        if not sep or not ATLAS_ID.match(atlas_id):
            problems.append(SourceProblem(f"{where}:{lineno}", MALFORMED_LINE,
                                          f"expected 'ROCO_ID<TAB>values', got {line[:80]!r}", fatal=False))
            continue
        values = [v.strip() for v in rest.split("\t") if v.strip()]
        if names_only:
            values = [v for v in values if not SEMTYPE_CODE.match(v)]
        out[atlas_id] = tuple(values)
    return out
