"""PMC ids and licences from ROCO's `licences.txt` files, joined into items that lack them.

Parquet mirrors of ROCO carry image, id and caption but no PMC id or licence, yet every real image
a student sees must name its source. `engine index --parquet … --licences ROCO_DIR` joins them in
by ROCO id; a row that still has no licence is kept and counted in the report (`no_licence`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path

from engine.atlas.items import AtlasItem, AtlasSourceError, Item, SourceProblem
from engine.atlas.report import IngestReport
from engine.atlas.roco import read_licences
from engine.store.base import AtlasStore

NO_LICENCE = "no_licence"
LICENCE_FILES = ("licences.txt", "licenses.txt")

Licences = Mapping[str, tuple[str | None, str | None]]  # ROCO id -> (PMC id, licence)


def read_licence_files(root: Path) -> tuple[dict[str, tuple[str | None, str | None]], list[SourceProblem]]:
    """Every licences file under a ROCO tree (or the one file given): ROCO id -> (PMC id, licence),
    and the lines that could not be read (kept as warnings for the report)."""
    root = Path(root).expanduser()
    if root.is_file():
        files, base = [root], root.parent
    elif root.is_dir():
        files, base = sorted(p for name in LICENCE_FILES for p in root.rglob(name) if p.is_file()), root
    else:
        raise AtlasSourceError(f"--licences {str(root)!r} is neither a ROCO folder nor a licences file")
    if not files:
        raise AtlasSourceError(f"no {' or '.join(LICENCE_FILES)} under {root} (ROCO's data/<split>/<subset>/)")
    table: dict[str, tuple[str | None, str | None]] = {}
    problems: list[SourceProblem] = []
    for path in files:
        table.update(read_licences(path, base, problems))
    return table, problems


class LicenceJoin:
    """Fills missing PMC ids and licences into items as they stream past, and remembers which items
    still have no licence (`missing`): of those, the ones that end up stored are counted by `count_stored`."""

    def __init__(self, licences: Licences, problems: Iterable[SourceProblem] = ()) -> None:
        self.licences = licences
        self.problems = list(problems)
        self.missing: list[str] = []

    def __call__(self, items: Iterable[Item]) -> Iterator[Item]:
        """`items`, joined (unreadable licence lines first, as warnings)."""
        yield from self.problems
        for item in items:
            if isinstance(item, AtlasItem):
                pmc_id, licence = self.licences.get(item.atlas_id, (None, None))
                if (item.pmc_id is None and pmc_id) or (item.licence is None and licence):
                    item = replace(item, pmc_id=item.pmc_id or pmc_id, licence=item.licence or licence)
                if item.licence is None:
                    self.missing.append(item.atlas_id)
            yield item

    def count_stored(self, report: IngestReport, store: AtlasStore) -> int:
        """Count the stored images without a licence into `report` (warning `no_licence`) and its
        JSON-lines file; rows that were rejected anyway are not counted twice."""
        stored = sorted(store.existing_ids(self.missing)) if self.missing else []
        if stored:
            report.warnings = {**report.warnings, NO_LICENCE: len(stored)}
            if report.report_path is not None:
                with report.report_path.open("a", encoding="utf-8") as f:
                    for atlas_id in stored:
                        line = {"id": atlas_id, "reason": NO_LICENCE, "detail": "no licence in the source or the "
                                "licences files", "kept": True}
                        f.write(json.dumps(line) + "\n")
        return len(stored)
