"""UMLS concepts of the atlas captions, from the files the sources ship (docs/ARCHITECTURE.md §4).

    ROCO (official layout, beside captions.txt):
        cuis.txt       ROCO_00006<TAB><TAB>C0040395<TAB>C0011334 ...    0–20 CUIs; none: "ROCO_00001<TAB>"
        semtypes.txt   ROCO_00006<TAB><TAB>T060<TAB>Diagnostic Procedure<TAB>T047<TAB>Disease or Syndrome ...
    ROCOv2 (where present, in a split folder or above it):
        *_concepts.csv, *_concepts_manual.csv   ID,CUIs        CUIs separated by ";"
        cui_mapping.csv                          CUI,Canonical name[,semantic type column]

ROCO lists an image's CUIs and its semantic types side by side without saying which CUI has which type;
a mapping file with a semantic type column (TUI, e.g. T047) is the only place a CUI gets its type.
Names come from a mapping file; ROCO's own files carry none. A value that is not a CUI (C + 7 digits)
is skipped and reported as a warning: the image keeps its other concepts.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from engine.atlas.items import MALFORMED_LINE, AtlasItem, Concept, SourceProblem

CUI = re.compile(r"^C\d{7}$")
TUI = re.compile(r"^T\d{3}$")
MALFORMED_CONCEPT = "malformed_concept"
MAPPING_NAMES = ("cui_mapping.csv", "cui_names.csv")
NAME_COLUMNS = ("canonical name", "name", "preferred name", "str")
SEMTYPE_COLUMNS = ("tui", "semantic type", "semtype", "sty")
_SKIP_DIRS = {"images", ".git"}


@dataclass
class ConceptTable:
    """Concepts per atlas id, semantic types per atlas id, and what is known of each CUI."""

    cuis: dict[str, list[str]] = field(default_factory=dict)
    semtypes: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)
    known: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # cui → (name, TUI)

    def __bool__(self) -> bool:
        return bool(self.cuis or self.semtypes)

    def ids(self) -> set[str]:
        """Every atlas id some file names (with or without concepts)."""
        return set(self.cuis) | set(self.semtypes)

    def concepts_of(self, atlas_id: str) -> tuple[Concept, ...]:
        """The image's concepts in source order, with name and semantic type where known."""
        return tuple(Concept(cui, *self.known.get(cui, (None, None))) for cui in self.cuis.get(atlas_id, ()))

    def semantic_types_of(self, atlas_id: str) -> tuple[tuple[str, str | None], ...]:
        """The image's (TUI, name) pairs as its semtypes file lists them."""
        return tuple(self.semtypes.get(atlas_id, ()))

    def merge(self, other: ConceptTable) -> None:
        """Add `other`'s entries; an id's CUIs are united in order, a CUI's name kept once known."""
        for atlas_id, cuis in other.cuis.items():
            self.cuis[atlas_id] = list(dict.fromkeys([*self.cuis.get(atlas_id, []), *cuis]))
        for atlas_id, types in other.semtypes.items():
            self.semtypes.setdefault(atlas_id, types)
        for cui, (name, tui) in other.known.items():
            old_name, old_tui = self.known.get(cui, (None, None))
            self.known[cui] = (old_name or name, old_tui or tui)

    def enrich(self, item: AtlasItem) -> AtlasItem:
        """`item` with this table's concepts where it names the item (its own ones are kept first)."""
        if item.atlas_id not in self.cuis and item.atlas_id not in self.semtypes:
            return item
        own = {c.cui for c in item.concepts}
        concepts = item.concepts + tuple(c for c in self.concepts_of(item.atlas_id) if c.cui not in own)
        return replace(item, concepts=concepts,
                       semantic_types=item.semantic_types or self.semantic_types_of(item.atlas_id))


def read_concept_dir(directory: Path, problems: list[SourceProblem], *, base: Path | None = None) -> ConceptTable:
    """The concept files of one folder (cuis.txt, semtypes.txt, ROCOv2 concept CSVs, a CUI mapping)."""
    table = ConceptTable()
    base = base or directory
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        name = path.name.lower()
        if not path.is_file():
            continue
        if name == "cuis.txt" or (name.startswith("cuis_") and name.endswith(".txt")):
            table.merge(ConceptTable(cuis=read_cuis_txt(path, problems, base)))
        elif name == "semtypes.txt" or (name.startswith("semtypes_") and name.endswith(".txt")):
            table.merge(ConceptTable(semtypes=read_semtypes_txt(path, problems, base)))
        elif name.endswith(".csv") and "concepts" in name:
            table.merge(ConceptTable(cuis=read_concepts_csv(path, problems, base)))
        elif name in MAPPING_NAMES:
            table.merge(ConceptTable(known=read_cui_mapping(path)))
    return table


def find_concepts(root: Path, problems: list[SourceProblem]) -> ConceptTable:
    """Every concept file under `root` (a ROCO or ROCOv2 tree, or one folder), merged."""
    root = Path(root)
    table = ConceptTable()
    folders = [root, *sorted(p for p in root.rglob("*") if p.is_dir() and not _SKIP_DIRS & set(p.parts))]
    for folder in folders:
        table.merge(read_concept_dir(folder, problems, base=root))
    return table


def mapping_near(folder: Path, stop: Path) -> dict[str, tuple[str | None, str | None]]:
    """The CUI mapping file in `folder` or the nearest folder above it, up to `stop`'s parent."""
    for candidate in (folder, *folder.parents):
        for name in MAPPING_NAMES:
            if (candidate / name).is_file():
                return read_cui_mapping(candidate / name)
        if candidate == stop.parent or candidate == candidate.parent:
            break
    return {}


def read_cuis_txt(path: Path, problems: list[SourceProblem], base: Path) -> dict[str, list[str]]:
    """atlas id → CUIs of a ROCO `ID<TAB><TAB>C…<TAB>C…` file (an id with an empty field has none)."""
    out: dict[str, list[str]] = {}
    for where, atlas_id, values in _tabbed(path, problems, base):
        out[atlas_id] = _cuis(values, where, problems)
    return out


def read_semtypes_txt(path: Path, problems: list[SourceProblem],
                      base: Path) -> dict[str, list[tuple[str, str | None]]]:
    """atlas id → (TUI, name) pairs of a ROCO `ID<TAB><TAB>T060<TAB>Diagnostic Procedure…` file."""
    out: dict[str, list[tuple[str, str | None]]] = {}
    for _, atlas_id, values in _tabbed(path, problems, base):
        pairs: list[tuple[str, str | None]] = []
        for value in values:
            if TUI.match(value):
                pairs.append((value, None))
            elif pairs and pairs[-1][1] is None:
                pairs[-1] = (pairs[-1][0], value)
        out[atlas_id] = list(dict.fromkeys(pairs))
    return out


def read_concepts_csv(path: Path, problems: list[SourceProblem], base: Path) -> dict[str, list[str]]:
    """atlas id → CUIs of a ROCOv2 concept file (columns ID, CUIs; CUIs separated by ';')."""
    out: dict[str, list[str]] = {}
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = {c.strip().lower(): c for c in reader.fieldnames or []}
        id_column, cui_column = columns.get("id"), columns.get("cuis") or columns.get("cui")
        if id_column is None or cui_column is None:
            problems.append(SourceProblem(str(path.relative_to(base)), MALFORMED_LINE,
                                          f"expected columns ID,CUIs, got {reader.fieldnames}", fatal=False))
            return out
        for row in reader:
            atlas_id = (row.get(id_column) or "").strip()
            if atlas_id:
                where = f"{path.relative_to(base)}:{atlas_id}"
                out[atlas_id] = _cuis(re.split(r"[;,\s]+", row.get(cui_column) or ""), where, problems)
    return out


def read_cui_mapping(path: Path) -> dict[str, tuple[str | None, str | None]]:
    """CUI → (name, TUI) of a mapping file (ROCOv2's cui_mapping.csv: CUI, Canonical name[, TUI])."""
    out: dict[str, tuple[str | None, str | None]] = {}
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = {c.strip().lower(): c for c in reader.fieldnames or []}
        cui_column = columns.get("cui")
        name_column = next((columns[c] for c in NAME_COLUMNS if c in columns), None)
        tui_column = next((columns[c] for c in SEMTYPE_COLUMNS if c in columns), None)
        if cui_column is None:
            return out
        for row in reader:
            cui = (row.get(cui_column) or "").strip()
            if not CUI.match(cui):
                continue
            name = (row.get(name_column) or "").strip() if name_column else ""
            tui = (row.get(tui_column) or "").strip() if tui_column else ""
            out[cui] = (name or None, tui if TUI.match(tui) else None)
    return out


def concept_payload(item: AtlasItem) -> tuple[list[dict[str, str | None]], list[dict[str, str | None]]]:
    """The item's concepts and semantic types as stored in the payload."""
    concepts = [{"cui": c.cui, "name": c.name, "semtype": c.semtype} for c in item.concepts]
    semtypes = [{"tui": tui, "name": name} for tui, name in item.semantic_types]
    return concepts, semtypes


def table_payload(table: ConceptTable, atlas_id: str) -> tuple[list[dict[str, str | None]], list[dict[str, str | None]]]:
    """The concepts and semantic types `table` holds for one atlas id, as stored in the payload."""
    return concept_payload(AtlasItem(atlas_id=atlas_id, caption="", concepts=table.concepts_of(atlas_id),
                                     semantic_types=table.semantic_types_of(atlas_id)))


def split_values(value: object) -> list[str]:
    """A parquet cell of CUIs or semantic types (a list, or a string separated by ; , tabs) as strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in re.split(r"[;,\t]", value) if v.strip()]
    if isinstance(value, Iterable):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    return []


def _cuis(values: Iterable[str], where: str, problems: list[SourceProblem]) -> list[str]:
    good = []
    for value in (v.strip() for v in values):
        if not value:
            continue
        if CUI.match(value):
            good.append(value)
        else:
            problems.append(SourceProblem(where, MALFORMED_CONCEPT, f"not a CUI: {value[:40]!r}", fatal=False))
    return list(dict.fromkeys(good))


def _tabbed(path: Path, problems: list[SourceProblem], base: Path) -> Iterator[tuple[str, str, list[str]]]:
    """(where, atlas id, values) per non-blank `ID<TAB>…` line; a line without a tab is a warning."""
    where_file = str(path.relative_to(base)) if path.is_relative_to(base) else str(path)
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for lineno, line in enumerate(handle, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            atlas_id, sep, rest = line.partition("\t")
            atlas_id = atlas_id.strip()
            if not sep or not atlas_id:
                problems.append(SourceProblem(f"{where_file}:{lineno}", MALFORMED_LINE,
                                              f"expected 'ROCO_ID<TAB>values', got {line[:80]!r}", fatal=False))
                continue
            yield f"{where_file}:{lineno}", atlas_id, [v.strip() for v in rest.split("\t") if v.strip()]
