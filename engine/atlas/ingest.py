"""Ingestion: items from a reader → CLIP image vectors + payload → the atlas store, in batches.

Per batch of source items:
1. screen   — source problems, empty captions and repeated ids are counted and reported;
2. resume   — ids the store already holds are skipped before any decoding (no re-embedding), unless
              the atlas holds the id from another collection: that item is refused (`duplicate_id`,
              naming both) and the stored point is kept;
3. decode   — worker threads read, check, decode and preprocess the images, and shrink a JPEG copy
              for the payload (so any replica can serve it); bad images are counted and reported;
4. embed    — one CLIP forward pass for the batch (`encode_pixels` when the encoder has it);
5. upsert   — the batch is written; from then on it survives an interrupt.
Decoding of the next batch overlaps the embedding of the current one.
"""

from __future__ import annotations

import logging
import operator
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from engine.atlas.concepts import concept_payload
from engine.atlas.decode import ImageLimits, PreparedImage, prepare
from engine.atlas.items import DUPLICATE_ID, EMPTY_CAPTION, AtlasItem, Item, SourceProblem
from engine.atlas.modality import derive_modality
from engine.atlas.report import IngestReport, ProblemLog
from engine.atlas.roco import read_roco_layout
from engine.models.base import ClipEncoder
from engine.store.base import AtlasPayload, AtlasRecord, AtlasStore

log = logging.getLogger(__name__)

# Batches being decoded while one is embedded: enough to keep the encoder busy, little memory.
PREFETCH_BATCHES = 2


def ingest(
    items: Iterable[Item],
    store: AtlasStore,
    clip: ClipEncoder,
    *,
    batch_size: int = 64,
    workers: int = 2,
    progress: bool = True,
    report_path: Path | None = None,
    image_max_side: int = 512,
    max_pixels: int = ImageLimits.max_pixels,
    total: int | None = None,
) -> IngestReport:
    """Embed and store every new, valid item; resumable and idempotent (see module doc).

    `workers`: decoding threads (0 decodes in this thread). `max_pixels`: larger images are refused.
    `total`: expected item count for the progress bar (default: `len(items)` when it has one).
    """
    _check_arguments(store, clip, batch_size, workers, image_max_side, max_pixels)
    report = IngestReport(report_path=report_path)
    limits = ImageLimits(max_pixels=max_pixels, thumb_max_side=image_max_side)
    run = _Run(store, clip, limits, report, ProblemLog(report, report_path))
    total = total if total is not None else (operator.length_hint(items) or None)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="atlas-decode") if workers > 0 else None
    started = time.perf_counter()
    finished = False
    bar = tqdm(total=total, unit="img", desc="indexing", disable=not progress, smoothing=0.1)
    try:
        pending: deque[list[Future[Any]]] = deque()
        for batch in _batched(items, batch_size):
            fresh = run.screen(batch, bar)
            if fresh:
                pending.append([_submit(pool, prepare, item, limits, run.preprocess) for item in fresh])
            while len(pending) > PREFETCH_BATCHES:
                run.store_batch([f.result() for f in pending.popleft()], bar)
        while pending:
            run.store_batch([f.result() for f in pending.popleft()], bar)
        finished = True
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
        run.problems.close()
        report.seconds = time.perf_counter() - started
        report.images_per_s = report.added / report.seconds if report.seconds > 0 else 0.0
        if finished:
            log.info("atlas ingestion done: %s", report.summary())
        else:
            log.warning("atlas ingestion interrupted; stored batches are kept, run again to resume: %s",
                        report.summary())
    return report


def default_workers(clip: ClipEncoder) -> int:
    """Decoding threads that pay off: none when CLIP runs on the CPU (it already uses every core, and
    threads only contend; measured in bench/ingest_tiny.py), else one per core up to 8 to keep the GPU fed."""
    if str(getattr(clip, "device", "cpu")).startswith("cpu"):
        return 0
    return min(8, os.cpu_count() or 1)


def index_roco_layout(root: Path, store: AtlasStore, clip: ClipEncoder, *,
                      splits: Sequence[str] | None = None, subsets: Sequence[str] | None = ("radiology",),
                      progress: bool = True, report_path: Path | None = None) -> IngestReport:
    """Ingest a ROCO tree (e.g. the generated demo atlas) and build the store's index if anything was added."""
    report = ingest(read_roco_layout(root, splits=splits, subsets=subsets), store, clip,
                    workers=default_workers(clip), progress=progress, report_path=report_path)
    if report.added:
        store.optimize()
    return report


class _Run:
    """The state of one ingestion run: what was claimed, counted and written."""

    def __init__(self, store: AtlasStore, clip: ClipEncoder, limits: ImageLimits,
                 report: IngestReport, problems: ProblemLog) -> None:
        self.store, self.clip, self.limits = store, clip, limits
        self.report, self.problems = report, problems
        self.claimed: set[str] = set()
        # Bulk path: workers produce model-ready tensors, the encoder only runs the forward pass.
        takes_pixels = callable(getattr(clip, "encode_pixels", None)) and callable(getattr(clip, "preprocess", None))
        self.preprocess = clip.preprocess if takes_pixels else None  # type: ignore[attr-defined]  # checked just above

    def screen(self, batch: list[Item], bar: tqdm) -> list[AtlasItem]:
        """Steps 1–2: the items of `batch` worth decoding; the rest are counted."""
        candidates: list[AtlasItem] = []
        for item in batch:
            problem = self._problem_of(item)
            if problem is None:
                candidates.append(item)  # type: ignore[arg-type]  # no problem found: it is an AtlasItem
                continue
            self.problems.add(problem)
            if problem.fatal:
                self.report.seen += 1
                bar.update(1)
        self.report.seen += len(candidates)
        existing = self.store.existing_sources([c.atlas_id for c in candidates]) if candidates else {}
        fresh = [c for c in candidates if c.atlas_id not in existing]
        for item in candidates:
            if item.atlas_id in existing:
                self._stored_already(item, existing[item.atlas_id])
        bar.update(len(candidates) - len(fresh))
        return fresh

    def _stored_already(self, item: AtlasItem, stored_source: str | None) -> None:
        """An id the atlas holds: the same collection's (or one that does not say) is a resume skip;
        another collection's is refused, and the stored point is never overwritten."""
        if stored_source and item.source and stored_source != item.source:
            self.problems.add(SourceProblem(
                item.atlas_id, DUPLICATE_ID,
                f"id {item.atlas_id!r} is already in the atlas from {stored_source}; refused from {item.source}"))
        else:
            self.report.skipped_existing += 1

    def _problem_of(self, item: Item) -> SourceProblem | None:
        if isinstance(item, SourceProblem):
            return item
        if not item.caption.strip():
            return SourceProblem(item.atlas_id, EMPTY_CAPTION, f"{item.image_location or item.atlas_id}: no caption")
        if item.atlas_id in self.claimed:  # the first occurrence of an id owns it
            return SourceProblem(item.atlas_id, DUPLICATE_ID, f"{item.image_location}: id seen earlier in this run")
        self.claimed.add(item.atlas_id)
        return None

    def store_batch(self, results: list[PreparedImage | SourceProblem], bar: tqdm) -> None:
        """Steps 4–5 for one decoded batch."""
        prepared = [r for r in results if isinstance(r, PreparedImage)]
        for r in results:
            if isinstance(r, SourceProblem):
                self.problems.add(r)
        if prepared:
            vectors = self._embed(prepared)
            self.store.upsert([AtlasRecord(vector=v, payload=_payload(p)) for v, p in zip(vectors, prepared, strict=True)])
            self.report.added += len(prepared)
            self.report.count_concepts(p.item for p in prepared)
        self.problems.flush()
        bar.update(len(results))
        bar.set_postfix(added=self.report.added, existing=self.report.skipped_existing,
                        rejected=sum(self.report.rejected.values()), refresh=False)

    def _embed(self, prepared: list[PreparedImage]) -> np.ndarray:
        if self.preprocess is not None:
            import torch

            vectors = self.clip.encode_pixels(torch.stack([p.pixels for p in prepared]))  # type: ignore[attr-defined]  # takes_pixels
        else:
            vectors = self.clip.encode_images([p.image for p in prepared if p.image is not None])
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(prepared), self.store.dim):
            raise RuntimeError(f"encoder returned shape {vectors.shape} for {len(prepared)} images; "
                               f"the atlas holds {self.store.dim}-d vectors")
        return vectors


def _payload(p: PreparedImage) -> AtlasPayload:
    item = p.item
    concepts, semtypes = concept_payload(item)
    return AtlasPayload(
        atlas_id=item.atlas_id,
        caption=item.caption,
        pmc_id=item.pmc_id,
        licence=item.licence,
        split=item.split,
        modality=derive_modality(item.caption, item.keywords),
        keywords=list(item.keywords),
        image_path=item.image_location,
        image_jpeg_b64=p.jpeg_b64,
        concepts=concepts,
        semtypes=semtypes,
        source=item.source,
    )


def _submit(pool: ThreadPoolExecutor | None, fn: Any, *args: Any) -> Future[Any]:
    if pool is not None:
        return pool.submit(fn, *args)
    done: Future[Any] = Future()
    done.set_result(fn(*args))
    return done


def _batched(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _check_arguments(store: AtlasStore, clip: ClipEncoder, batch_size: int, workers: int,
                     image_max_side: int, max_pixels: int) -> None:
    for name, value, least in (("batch_size", batch_size, 1), ("workers", workers, 0),
                               ("image_max_side", image_max_side, 16), ("max_pixels", max_pixels, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    if store.dim != clip.dim:
        raise ValueError(f"the store holds {store.dim}-d vectors but the CLIP model {clip.model_id!r} "
                         f"makes {clip.dim}-d ones; use a new collection or the matching model")
