"""Give an existing atlas its UMLS concepts without re-embedding (`engine index --concepts-only`).

Every point is read back with its vector and full payload (images included), its `concepts` and
`semtypes` are set from the source's concept files, and the batch is written again: vectors are the
stored ones, nothing goes through CLIP. Idempotent (a rerun changes nothing); a point the files do not
name keeps what it has, and a point without concepts keeps working everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from engine.store.base import AtlasRecord, AtlasStore

ConceptLookup = Callable[[str], tuple[list[dict[str, str | None]], list[dict[str, str | None]]] | None]


@dataclass
class BackfillReport:
    """What a backfill did: points seen, changed, already up to date, not named by the source."""

    points: int = 0
    updated: int = 0
    unchanged: int = 0
    not_in_source: int = 0
    with_concepts: int = 0  # after the run

    def summary(self) -> str:
        """One line for the command's answer."""
        share = self.with_concepts / self.points if self.points else 0.0
        return (f"concepts: {self.updated} points updated, {self.unchanged} already up to date, "
                f"{self.not_in_source} not named by the concept files; {self.with_concepts} of {self.points} "
                f"points ({share:.0%}) now carry CUIs")


def backfill_concepts(store: AtlasStore, lookup: ConceptLookup, *, batch_size: int = 256) -> BackfillReport:
    """Set each point's concepts from `lookup(atlas_id)` (None: the source does not name it)."""
    report = BackfillReport()
    for batch in store.scroll(batch_size, with_images=True):
        changed: list[AtlasRecord] = []
        for record in batch:
            report.points += 1
            payload = record.payload
            found = lookup(payload.atlas_id)
            if found is None:
                report.not_in_source += 1
            elif (payload.concepts, payload.semtypes) == found:
                report.unchanged += 1
            else:
                payload = replace(payload, concepts=found[0], semtypes=found[1])
                changed.append(AtlasRecord(vector=record.vector, payload=payload))
                report.updated += 1
            report.with_concepts += bool(payload.cuis)
        if changed:
            store.upsert(changed)
    return report
