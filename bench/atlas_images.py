"""Where the atlas's images live at 1.6M points (issue 21 item 2): RAM and disk per 100k points.

For each option the same N points (random unit vectors, a ROCO-like payload and one JPEG-sized
blob of incompressible bytes each, `--image-kb` KB, like the ~60 KB downsized JPEG of today) are
written, indexed and then served by a FRESH process, which reports its RSS after opening the atlas
and after `--reads` searches each followed by reading the top hit's image (how the engine serves):
- payload: the JPEG base64 in each point's payload (the current design; payload on disk, "Cold");
- pack:    the JPEG in pack files beside the store, the payload keeps `image_ref` (engine/store/images.py);
- path:    only the original file's path in the payload; the bytes are the collection's own files
           (written once here, counted apart), read from disk at serve time.
Object storage by URL (S3/MinIO) is not measured: no object store runs on this machine; its atlas
side is the `path` row without the local files, and every image costs a network round trip.

    .venv/bin/python bench/atlas_images.py --n 20000        # figures scaled to 100k in the result
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from store_scale import du_mb, mem_status  # noqa: E402

from engine.store.base import AtlasPayload, AtlasRecord  # noqa: E402
from engine.store.edge import EdgeStore  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
OPTIONS = ("payload", "pack", "path")


def blob(i: int, size: int, rng: np.random.Generator) -> bytes:
    """An incompressible stand-in for one downsized JPEG."""
    return b"\xff\xd8" + rng.bytes(size - 4) + b"\xff\xd9"


def build(option: str, root: Path, vectors: np.ndarray, args) -> dict:
    """Write and index the atlas for one option; timings and disk."""
    rng = np.random.default_rng(1)
    originals = root / "originals"
    store = EdgeStore.create(root / "store", vectors.shape[1], hnsw_m=16, ef_construct=100, quantization="int8",
                             vectors_on_disk=True, image_storage="pack" if option == "pack" else "payload")
    t0 = time.perf_counter()
    for start in range(0, len(vectors), 256):
        records = []
        for i in range(start, min(start + 256, len(vectors))):
            data = blob(i, args.image_kb * 1000, rng)
            payload = AtlasPayload(atlas_id=f"PMC_{i}", caption="a chest radiograph " * 8, licence="CC BY",
                                   modality="x-ray", keywords=["chest"])
            if option == "path":
                path = originals / f"{i % 1000:03d}" / f"PMC_{i}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                payload.image_path = str(path)
            else:
                payload.image_jpeg_b64 = base64.b64encode(data).decode()
            records.append(AtlasRecord(vectors[i], payload))
        store.upsert(records)
    upsert_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    store.optimize()
    optimize_s = time.perf_counter() - t0
    store.close()
    return {"upsert_s": round(upsert_s, 1), "optimize_s": round(optimize_s, 1),
            "atlas_disk_mb": du_mb(root / "store"), "originals_disk_mb": du_mb(originals) if originals.exists() else 0.0,
            "loadavg": os.getloadavg()}


def serve(root: str, option: str, queries_file: str, out: str) -> None:
    """Child: open the atlas, then search + read the top hit's image for every query; RSS and times."""
    store = EdgeStore.open(Path(root) / "store")
    after_open = mem_status()
    secs = []
    for qv in np.load(queries_file):
        t0 = time.perf_counter()
        hit = store.search(qv, 10)[0]
        data = Path(hit.payload.image_path).read_bytes() if option == "path" else store.image(hit.atlas_id)
        assert data and data[:2] == b"\xff\xd8"
        secs.append(time.perf_counter() - t0)
    Path(out).write_text(json.dumps({"after_open": after_open, "after_reads": mem_status(),
                                     "p50_ms": 1000 * float(np.median(secs)), "p99_ms": 1000 * float(np.percentile(secs, 99))}))
    store.close()


def main(argv: list[str] | None = None) -> int:
    """Every option on the same points; writes bench/results/atlas_images.{json,md}."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--image-kb", type=int, default=60)
    ap.add_argument("--reads", type=int, default=300)
    ap.add_argument("--options", default=",".join(OPTIONS))
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.n, args.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="mirage-images-", dir="/tmp") as tmp:
        qfile = Path(tmp) / "q.npy"
        np.save(qfile, vectors[rng.integers(0, args.n, args.reads)])
        for option in args.options.split(","):
            root = Path(tmp) / option
            row = build(option, root, vectors, args)
            subprocess.run([sys.executable, __file__, "serve", str(root), option, str(qfile), str(root / "s.json")], check=True)
            row["serve"] = json.loads((root / "s.json").read_text())
            rows[option] = row
            print(option, json.dumps(row), flush=True)
    per = 100_000 / args.n
    lines = [f"# atlas_images: {args.n:,} points, {args.image_kb} KB per image, int8 m=16 ec=100, vectors on disk", "",
             f"Command: `python bench/atlas_images.py {' '.join(argv if argv is not None else sys.argv[1:])}`  ",
             "Per 100k points = measured x " + f"{per:g} (disk is linear in n; RSS is the serving process's, measured)", "",
             "| option | upsert s | index s | atlas disk GB /100k | originals GB /100k | RSS after open MB | RSS after reads MB (anon / file) | search+image p50 / p99 ms | load |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for option, r in rows.items():
        s = r["serve"]
        lines.append(f"| {option} | {r['upsert_s']} | {r['optimize_s']} | {r['atlas_disk_mb'] * per / 1000:.2f} | "
                     f"{r['originals_disk_mb'] * per / 1000:.2f} | {s['after_open']['VmRSS']} | {s['after_reads']['VmRSS']} "
                     f"({s['after_reads']['RssAnon']} / {s['after_reads']['RssFile']}) | {s['p50_ms']:.2f} / {s['p99_ms']:.2f} | "
                     f"{r['loadavg'][0]:.1f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "atlas_images.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=1))
    (args.out / "atlas_images.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "serve":
        serve(*sys.argv[2:])
    else:
        raise SystemExit(main())
