"""Reader for ROCOv2's layout (the 2023/2024 release: captions and concepts as CSV, one folder per split).

    root/
        train/ROCOv2_2023_train_000001.jpg …      valid/…   test/…
        train_captions.csv      ID,Caption
        train_concepts.csv      ID,CUIs              CUIs separated by ";"
        train_concepts_manual.csv                    (the manually checked concepts; both are merged)
        cui_mapping.csv         CUI,Canonical name   names the CUIs
    an optional `licence` / `license` column in the captions file, or `<split>_licences.csv`
    (ID,Licence), gives each image its licence; ROCOv2 ships none, so without one every image's licence
    is unknown (engine/atlas/sources.py keeps those out unless --allow-unknown-licences).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

from engine.atlas.concepts import MAPPING_NAMES, read_concepts_csv, read_cui_mapping
from engine.atlas.figures import NO_LICENCE_COLUMN
from engine.atlas.items import MALFORMED_LINE, AtlasItem, AtlasSourceError, Concept, Item, SourceProblem
from engine.atlas.roco import ATLAS_ID, canonical_split

SPLIT_NAMES = {"train": "train", "valid": "validation", "validation": "validation", "val": "validation",
               "test": "test"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
ROCOV2 = "ROCOv2"  # the collection name stored with every image


class RocoV2Layout:
    """The selected splits of a ROCOv2 tree, iterable as `Item`s; `len()` is the caption rows."""

    def __init__(self, root: Path, *, splits: Sequence[str] | None = None) -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise AtlasSourceError(f"ROCOv2 root {str(self.root)!r} is not a directory")
        found = {SPLIT_NAMES[p.name.removesuffix("_captions.csv")]: p
                 for p in sorted(self.root.glob("*_captions.csv")) if p.name.removesuffix("_captions.csv") in SPLIT_NAMES}
        if not found:
            raise AtlasSourceError(f"no <split>_captions.csv (train, valid, test) in {self.root}: not a ROCOv2 folder")
        wanted = [canonical_split(s) for s in splits] if splits else sorted(found)
        missing = [s for s in wanted if s not in found]
        if missing:
            raise AtlasSourceError(f"split(s) {missing} have no captions file in {self.root}; found {sorted(found)}")
        self.captions = [(s, found[s]) for s in wanted]
        self.mapping = next((read_cui_mapping(self.root / n) for n in MAPPING_NAMES if (self.root / n).is_file()), {})
        self._length = sum(_rows(p) for _, p in self.captions)

    def __iter__(self) -> Iterator[Item]:
        for split, path in self.captions:
            yield from self._read_split(split, path)

    def __len__(self) -> int:
        return self._length

    def _read_split(self, split: str, path: Path) -> Iterator[Item]:
        prefix = path.name.removesuffix("_captions.csv")
        problems: list[SourceProblem] = []
        cuis: dict[str, list[str]] = {}
        for name in (f"{prefix}_concepts.csv", f"{prefix}_concepts_manual.csv"):
            if (self.root / name).is_file():
                for atlas_id, values in read_concepts_csv(self.root / name, problems, self.root).items():
                    cuis[atlas_id] = list(dict.fromkeys([*cuis.get(atlas_id, []), *values]))
        licences = _licence_file(self.root / f"{prefix}_licences.csv", problems)
        yield from problems
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = {c.strip().lower(): c for c in reader.fieldnames or []}
            id_col, caption_col = columns.get("id"), columns.get("caption")
            if id_col is None or caption_col is None:
                raise AtlasSourceError(f"{path}: expected columns ID,Caption, got {reader.fieldnames}")
            licence_col = columns.get("licence") or columns.get("license")
            if licence_col is None and licences is None:
                yield SourceProblem(path.name, NO_LICENCE_COLUMN,
                                    f"{path.name} has no licence column and there is no {prefix}_licences.csv",
                                    fatal=False)
            for number, row in enumerate(reader, 2):
                atlas_id = (row.get(id_col) or "").strip()
                if not ATLAS_ID.match(atlas_id):
                    yield SourceProblem(f"{path.name}:{number}", MALFORMED_LINE, f"bad or missing ID {atlas_id!r}")
                    continue
                licence = (row.get(licence_col) or "").strip() if licence_col else (licences or {}).get(atlas_id)
                image = next((p for s in IMAGE_SUFFIXES if (p := self.root / prefix / f"{atlas_id}{s}").exists()),
                             self.root / prefix / f"{atlas_id}.jpg")
                yield AtlasItem(
                    atlas_id=atlas_id, caption=(row.get(caption_col) or "").strip(), split=split,
                    licence=licence or None,
                    concepts=tuple(Concept(c, *self.mapping.get(c, (None, None))) for c in cuis.get(atlas_id, [])),
                    image_path=image, image_location=str(image.relative_to(self.root)), source=ROCOV2,
                )


def read_rocov2_layout(root: Path, *, splits: Sequence[str] | None = None) -> RocoV2Layout:
    """The items of a ROCOv2 tree, limited to `splits` (None: every split found)."""
    return RocoV2Layout(root, splits=splits)


def _licence_file(path: Path, problems: list[SourceProblem]) -> dict[str, str] | None:
    if not path.is_file():
        return None
    out: dict[str, str] = {}
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = {c.strip().lower(): c for c in reader.fieldnames or []}
        id_col, lic_col = columns.get("id"), columns.get("licence") or columns.get("license")
        if id_col is None or lic_col is None:
            problems.append(SourceProblem(path.name, MALFORMED_LINE, f"expected columns ID,Licence, got "
                                          f"{reader.fieldnames}", fatal=False))
            return None
        for row in reader:
            if (row.get(id_col) or "").strip() and (row.get(lic_col) or "").strip():
                out[row[id_col].strip()] = row[lic_col].strip()
    return out


def _rows(path: Path) -> int:
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1
