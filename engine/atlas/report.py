"""What an ingestion run did: counts by outcome, and a JSON-lines file naming every bad item."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from engine.atlas.items import AtlasItem, SourceProblem

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    """Counts of one run. seen = added + skipped_existing + sum(rejected).

    `warnings` counts source lines that were bad but cost no item (e.g. a malformed licence line:
    the item is stored without a licence).
    """

    seen: int = 0
    added: int = 0
    skipped_existing: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    images_per_s: float = 0.0
    report_path: Path | None = None
    # concept coverage of the images added: with at least one CUI, with semantic types, with named CUIs
    with_concepts: int = 0
    with_semtypes: int = 0
    with_names: int = 0

    def count_concepts(self, items: Iterable[AtlasItem]) -> None:
        """Count the concept coverage of stored items."""
        for item in items:
            self.with_concepts += bool(item.concepts)
            self.with_semtypes += bool(item.semantic_types)
            self.with_names += any(c.name for c in item.concepts)

    def concepts_line(self) -> str:
        """"concepts: CUIs for 180 of 240 added images (75%), semantic types 180, names 0"."""
        share = self.with_concepts / self.added if self.added else 0.0
        return (f"concepts: CUIs for {self.with_concepts} of {self.added} added images ({share:.0%}), "
                f"semantic types {self.with_semtypes}, named CUIs {self.with_names}")

    def summary(self) -> str:
        """Two or three human lines: what was stored, skipped and refused, and how fast."""
        lines = [
            f"seen {self.seen}, added {self.added}, already stored {self.skipped_existing}, "
            f"rejected {sum(self.rejected.values())} in {self.seconds:.1f} s ({self.images_per_s:.1f} images/s)"
        ]
        if self.added:
            lines.append(self.concepts_line())
        if self.rejected:
            lines.append("rejected: " + ", ".join(f"{k} {v}" for k, v in sorted(self.rejected.items())))
        if self.warnings:
            lines.append("kept with a field missing: "
                         + ", ".join(f"{k} {v}" for k, v in sorted(self.warnings.items())))
        if self.report_path and (self.rejected or self.warnings):
            lines.append(f"details: {self.report_path}")
        return "\n".join(lines)


class ProblemLog:
    """Counts problems into a report and, when a path is given, writes each as a JSON line.

    Lines are flushed per batch (`flush`), so an interrupted run still leaves what it found.
    """

    def __init__(self, report: IngestReport, path: Path | None) -> None:
        self.report = report
        self._rejected: Counter[str] = Counter()
        self._warnings: Counter[str] = Counter()
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("w", encoding="utf-8")

    def add(self, problem: SourceProblem) -> None:
        """Count one problem (rejected if fatal, else a warning) and write its line."""
        (self._rejected if problem.fatal else self._warnings)[problem.reason] += 1
        self.report.rejected = dict(self._rejected)
        self.report.warnings = dict(self._warnings)
        log.debug("%s: %s (%s)", problem.where, problem.reason, problem.detail)
        if self._file is not None:
            record = {"id": problem.where, "reason": problem.reason, "detail": problem.detail,
                      "kept": not problem.fatal}
            self._file.write(json.dumps(record, ensure_ascii=False) + "\n")

    def flush(self) -> None:
        """Make the lines written so far durable."""
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Flush and close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None
