"""Move an atlas between backends (embedded <-> Qdrant server) without re-embedding anything."""

from __future__ import annotations

import logging
from dataclasses import replace

from tqdm import tqdm

from engine.store.base import AtlasStore
from engine.store.provenance import read_provenance, record_provenance

log = logging.getLogger(__name__)


class MigrationError(RuntimeError):
    """The copy finished but the destination does not hold what the source holds."""


def copy_atlas(src: AtlasStore, dst: AtlasStore, *, batch_size: int = 256, progress: bool = True) -> int:
    """Copy every point of `src` (vector and full payload, images included) into `dst`.

    Batched; idempotent (point ids derive from atlas ids, so a rerun overwrites). Runs `dst.optimize()`
    at the end and checks that both hold the same number of points. Returns the number copied.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size: must be positive, got {batch_size}")
    if src.dim != dst.dim:
        raise ValueError(f"the source holds {src.dim}-d vectors but the destination {dst.dim}-d ones")
    carry_provenance(src, dst)
    total = src.count()
    copied = 0
    with tqdm(total=total, unit="pt", desc="copy atlas", disable=not progress) as bar:
        for batch in src.scroll(batch_size, with_images=True):
            dst.upsert(batch)
            copied += len(batch)
            bar.update(len(batch))
    dst.optimize()
    src_count, dst_count = src.count(), dst.count()
    if dst_count != src_count:
        raise MigrationError(
            f"count check failed: the source holds {src_count} points, the destination {dst_count} "
            f"({copied} copied); the destination may have held other points already"
        )
    log.info("copied %d points; both stores hold %d", copied, dst_count)
    return copied


def carry_provenance(src: AtlasStore, dst: AtlasStore) -> None:
    """Give `dst` the record of which CLIP filled `src`, before any point moves (a copy stopped half
    way is still guarded), without the demo mark; MigrationError when `dst` already records another
    CLIP model."""
    recorded, present = read_provenance(src), read_provenance(dst)
    if recorded is None:
        return
    if present is not None and present.clip_model != recorded.clip_model:
        raise MigrationError(
            f"{dst.location} holds an atlas of CLIP {present.clip_model!r}; the source was indexed with "
            f"{recorded.clip_model!r}: copy into another collection or directory"
        )
    # A copy is the user's own atlas, never the generated demo: the demo mark (the one thing that lets
    # the engine delete an atlas) does not travel, so it can never land on a destination's own points.
    record_provenance(dst, replace(recorded, demo=False))
