"""The image–caption pairs an evaluation runs on: one split, from the atlas or from a ROCO tree.

From the atlas (default) the image vectors are the ones indexing stored, so no image is decoded
again; from a ROCO tree (`--roco DIR`) the images are read and encoded with the CLIP under test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from engine.atlas.items import AtlasItem
from engine.atlas.roco import canonical_split, read_roco_layout
from engine.models.base import ClipEncoder
from engine.store.base import AtlasStore, as_unit_rows


class EvalDataError(ValueError):
    """The split to evaluate cannot be assembled (empty, too small, wrong vector size)."""


@dataclass
class EvalSplit:
    """Matched pairs: caption i belongs to image vector i (unit rows)."""

    name: str
    source: str
    atlas_ids: list[str]
    captions: list[str]
    image_vectors: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.atlas_ids)
        if len(self.captions) != n or self.image_vectors.shape[0] != n:
            raise EvalDataError(
                f"split {self.name!r}: {n} ids, {len(self.captions)} captions, "
                f"{self.image_vectors.shape[0]} image vectors; they must match"
            )

    def __len__(self) -> int:
        return len(self.atlas_ids)

    def subset(self, indices: Sequence[int] | np.ndarray) -> EvalSplit:
        """The pairs at `indices`, in that order."""
        idx = np.asarray(indices, dtype=np.int64)
        return EvalSplit(self.name, self.source, [self.atlas_ids[i] for i in idx],
                         [self.captions[i] for i in idx], self.image_vectors[idx])


def sample(split: EvalSplit, limit: int | None, seed: int) -> EvalSplit:
    """At most `limit` pairs drawn at random (seeded); the whole split when `limit` is None or larger."""
    if limit is None or limit >= len(split):
        return split
    if limit < 2:
        raise EvalDataError(f"limit: at least 2 pairs (got {limit})")
    rng = np.random.default_rng(seed)
    return split.subset(np.sort(rng.choice(len(split), size=limit, replace=False)))


def split_from_store(store: AtlasStore, split: str, *, dim: int) -> EvalSplit:
    """Every point of `split` in the atlas, with its stored image vector and caption."""
    if store.dim != dim:
        raise EvalDataError(f"the atlas holds {store.dim}-d vectors but the CLIP under test gives {dim}-d; "
                            "re-index with this CLIP or pass --roco DIR")
    wanted = canonical_split(split)
    ids: list[str] = []
    captions: list[str] = []
    vectors: list[np.ndarray] = []
    with tqdm(total=store.count(), desc=f"reading atlas ({wanted})", unit="pt") as bar:
        for batch in store.scroll(512, with_images=False):
            for record in batch:
                if record.payload.split == wanted and record.payload.caption.strip():
                    ids.append(record.payload.atlas_id)
                    captions.append(record.payload.caption)
                    vectors.append(np.asarray(record.vector, dtype=np.float32))
            bar.update(len(batch))
    if len(ids) < 2:
        raise EvalDataError(f"the atlas has {len(ids)} pairs of split {wanted!r}; index that split first "
                            "(python -m engine index …) or pass --roco DIR")
    order = np.argsort(ids)  # scroll order is the store's; make the split's order stable
    return EvalSplit(wanted, "atlas", [ids[i] for i in order], [captions[i] for i in order],
                     as_unit_rows(np.stack(vectors))[order])


def split_from_roco(root: Path, split: str, clip: ClipEncoder, *, batch_size: int = 64,
                    limit: int | None = None, seed: int = 0) -> EvalSplit:
    """The radiology pairs of `split` in a ROCO tree, images encoded with `clip` (at most `limit`, sampled)."""
    wanted = canonical_split(split)
    items = [it for it in read_roco_layout(Path(root), splits=[wanted])
             if isinstance(it, AtlasItem) and it.caption.strip() and it.image_path and it.image_path.is_file()]
    if len(items) < 2:
        raise EvalDataError(f"{root}: split {wanted!r} has {len(items)} readable image–caption pairs; need 2")
    if limit is not None and limit < len(items):
        if limit < 2:
            raise EvalDataError(f"limit: at least 2 pairs (got {limit})")
        keep = np.sort(np.random.default_rng(seed).choice(len(items), size=limit, replace=False))
        items = [items[i] for i in keep]
    vectors = []
    for start in tqdm(range(0, len(items), batch_size), desc=f"encoding {wanted} images", unit="batch"):
        images = [_load_rgb(it.image_path) for it in items[start : start + batch_size]]
        vectors.append(np.asarray(clip.encode_images(images), dtype=np.float32))
    return EvalSplit(wanted, f"roco:{root}", [it.atlas_id for it in items], [it.caption for it in items],
                     np.concatenate(vectors))


def _load_rgb(path: Path | None) -> Image.Image:
    assert path is not None
    with Image.open(path) as im:
        return im.convert("RGB")
