"""Ingestion throughput end to end with the tiny CLIP on this CPU (not a test).

Builds a generated ROCO tree (the demo atlas generator, `--n` images), optionally re-saved at a larger
side so decoding costs what real ROCO figures cost, then times `ingest` (read → decode → preprocess →
embed → upsert with a shrunk JPEG in the payload) into a fresh embedded store, for each worker count,
and the index build (`optimize`) after it. Prints a table; `--json` also writes the rows.

    python bench/ingest_tiny.py                        # 1000 images at 96 px and at 512 px
    python bench/ingest_tiny.py --n 3000 --sides 512 --workers 0 2 4
    python bench/ingest_tiny.py --clip DIR             # another local open_clip directory
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script: make `engine` importable
    sys.path.insert(0, str(REPO_ROOT))

from PIL import Image  # noqa: E402

from bench.common import TEST_CACHE  # noqa: E402
from engine.atlas.ingest import ingest  # noqa: E402
from engine.atlas.roco import read_roco_layout  # noqa: E402
from engine.models.clip import load_clip  # noqa: E402
from engine.store.edge import EdgeStore  # noqa: E402
from engine.tiny.demo_atlas import build_demo_atlas  # noqa: E402

CACHE = REPO_ROOT / ".cache" / "bench"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="generated images (default 1000)")
    parser.add_argument("--sides", type=int, nargs="+", default=[96, 512],
                        help="image sides to test; 96 is the demo atlas' own (default: 96 512)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="decode threads (default: 0 2)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--clip", help="a local open_clip directory (default: the tiny CLIP, built if missing)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    clip = load_clip(args.clip or _tiny_clip(), device="cpu")
    rows = []
    for side in args.sides:
        root = _tree(args.n, side)
        for workers in args.workers:
            with tempfile.TemporaryDirectory() as tmp:
                store = EdgeStore.create(Path(tmp) / "atlas", clip.dim)
                report = ingest(read_roco_layout(root), store, clip, batch_size=args.batch_size,
                                workers=workers, progress=False)
                started = time.perf_counter()
                store.optimize()
                optimize_s = time.perf_counter() - started
                store.close()
            rows.append({"side": side, "workers": workers, "batch": args.batch_size, "images": report.added,
                         "seconds": round(report.seconds, 2), "images_per_s": round(report.images_per_s, 1),
                         "optimize_s": round(optimize_s, 2)})
            print(_row(rows[-1]), flush=True)
    print(f"\nCPU: {os.cpu_count()} cores, torch threads {_torch_threads()}; model {clip.model_id} ({clip.dim}-d)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


HEADER = f"{'side px':>7} {'workers':>7} {'batch':>5} {'images':>6} {'seconds':>8} {'images/s':>8} {'optimize s':>10}"


def _row(r: dict) -> str:
    if not hasattr(_row, "printed"):
        print(HEADER)
        _row.printed = True  # type: ignore[attr-defined]
    return (f"{r['side']:>7} {r['workers']:>7} {r['batch']:>5} {r['images']:>6} {r['seconds']:>8.2f} "
            f"{r['images_per_s']:>8.1f} {r['optimize_s']:>10.2f}")


def _tree(n: int, side: int) -> Path:
    """The demo atlas with `n` images, re-saved at `side` px when that differs from its own size."""
    demo = build_demo_atlas(CACHE / f"demo-{n}", n=n)
    if side == 96:
        return demo
    root = CACHE / f"demo-{n}-{side}px"
    if (root / "done").exists():
        return root
    for src in (demo / "data").rglob("*"):
        dst = root / src.relative_to(demo)
        if src.is_dir():
            dst.mkdir(parents=True, exist_ok=True)
        elif src.suffix == ".jpg":
            Image.open(src).resize((side, side), Image.Resampling.BICUBIC).save(dst, quality=90)
        else:
            dst.write_bytes(src.read_bytes())
    (root / "done").write_text("ok")
    return root


def _tiny_clip() -> str:
    """The tiny CLIP from the test cache (built there once if missing, as the tests do)."""
    from engine.tiny.build import ensure_tiny_models

    return str(ensure_tiny_models(TEST_CACHE / "models", TEST_CACHE / "demo-roco").clip)


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    raise SystemExit(main())
