"""Benchmark: ingestion throughput of the atlas store without the model (vectors precomputed).

81k random unit vectors (768-d) with a ROCO-like payload (no images) go into
- the embedded store (EdgeStore, qdrant-edge-py), including the HNSW build (`optimize()`), and
- qdrant-client's own local mode (`QdrantClient(path=...)`), which the design rejected (docs/ARCHITECTURE.md §4),
in the same run. The local mode is slow (it commits SQLite once per point), so `--client-n`
caps its share and the total is extrapolated linearly; the report says so.

    .venv/bin/python bench/store_ingest.py                   # 81k points, client mode capped at 20k
    .venv/bin/python bench/store_ingest.py --client-n 81000  # no extrapolation (minutes)
    .venv/bin/python bench/store_ingest.py --quick           # 5k points

Writes bench/results/store_ingest[_quick].{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qdrant_client import QdrantClient  # noqa: E402

from engine.store.base import AtlasPayload, AtlasRecord, AtlasStore  # noqa: E402
from engine.store.client import ClientStore  # noqa: E402
from engine.store.edge import EdgeStore  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
MODALITIES = ("x-ray", "ct", "mri", "ultrasound", "angiography", "nuclear", "other")
WORDS = [
    "axial",
    "contrast",
    "enhanced",
    "image",
    "shows",
    "lesion",
    "left",
    "right",
    "lobe",
    "mass",
    "fracture",
    "effusion",
    "arrow",
]


def make_records(n: int, dim: int, seed: int) -> list[AtlasRecord]:
    """`n` random unit vectors with payloads shaped like ROCO's (caption ~20 words, keywords)."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [
        AtlasRecord(
            vector=vectors[i],
            payload=AtlasPayload(
                atlas_id=f"ROCO_{i:05d}",
                caption=" ".join(rng.choice(WORDS, size=20)),
                pmc_id=f"PMC{3_000_000 + i}",
                licence="CC BY",
                split="train",
                modality=MODALITIES[i % len(MODALITIES)],
                keywords=list(rng.choice(WORDS, size=4)),
                image_path=f"data/train/radiology/images/ROCO_{i:05d}.jpg",
            ),
        )
        for i in range(n)
    ]


def load(store: AtlasStore, records: list[AtlasRecord], batch: int, label: str) -> float:
    """Upsert every record in batches; seconds taken."""
    t0 = time.perf_counter()
    for start in tqdm(range(0, len(records), batch), desc=label, unit="batch", leave=False):
        store.upsert(records[start : start + batch])
    return time.perf_counter() - t0


def dir_mb(path: Path) -> float:
    """Size of a directory tree in MB."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=81_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--batch", type=int, default=256, help="points per upsert call")
    ap.add_argument("--client-n", type=int, default=20_000, help="points for qdrant-client's local mode")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="5k points, client mode 2k")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.client_n = 5_000, 2_000
    args.client_n = min(args.client_n, args.n)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write JSON + markdown results."""
    args = parse_args(argv)
    records = make_records(args.n, args.dim, args.seed)
    loadavg_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="mirage-ingest-") as tmp:
        # 1. the embedded store: upsert, then build the index
        edge_path = Path(tmp) / "edge"
        store = EdgeStore.create(edge_path, args.dim)
        edge_upsert = load(store, records, args.batch, "edge upsert")
        t0 = time.perf_counter()
        store.optimize()
        edge_optimize = time.perf_counter() - t0
        store.close()
        t0 = time.perf_counter()
        with EdgeStore.open(edge_path) as reopened:
            assert reopened.count() == args.n
        edge_reopen = time.perf_counter() - t0
        edge_mb = dir_mb(edge_path)

        # 2. qdrant-client's local mode on disk, same points (capped)
        client_path = Path(tmp) / "client"
        client = ClientStore(QdrantClient(path=str(client_path)), "roco", args.dim)
        client_s = load(client, records[: args.client_n], args.batch, "client local upsert")
        assert client.count() == args.client_n
        client.close()

    edge_total = edge_upsert + edge_optimize
    client_rate = args.client_n / client_s
    extrapolated = args.client_n < args.n
    result = {
        "command": "python "
        + " ".join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared), python {platform.python_version()}",
        "loadavg_start": loadavg_start,
        "loadavg_end": os.getloadavg(),
        "n": args.n,
        "dim": args.dim,
        "batch": args.batch,
        "edge": {
            "upsert_s": round(edge_upsert, 2),
            "optimize_s": round(edge_optimize, 2),
            "total_s": round(edge_total, 2),
            "points_per_s": round(args.n / edge_total, 1),
            "upsert_points_per_s": round(args.n / edge_upsert, 1),
            "reopen_s": round(edge_reopen, 3),
            "disk_mb": round(edge_mb, 1),
        },
        "client_local": {
            "points_measured": args.client_n,
            "measured_s": round(client_s, 2),
            "points_per_s": round(client_rate, 1),
            "total_s_for_n": round(args.n / client_rate, 1),
            "extrapolated": extrapolated,
        },
    }
    suffix = "_quick" if args.quick else ""
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"store_ingest{suffix}.json").write_text(json.dumps(result, indent=2))
    md = markdown(result)
    (args.out / f"store_ingest{suffix}.md").write_text(md)
    print(md)
    return 0


def markdown(r: dict) -> str:
    """The result as a short markdown report."""
    e, c = r["edge"], r["client_local"]
    note = (
        f" (measured on {c['points_measured']} points, total extrapolated linearly)"
        if c["extrapolated"]
        else ""
    )
    return "\n".join(
        [
            f"# store_ingest: {r['n']} x {r['dim']} precomputed unit vectors, payload without images",
            "",
            f"Command: `{r['command']}`  ",
            f"Machine: {r['machine']}; load average at start / end: {r['loadavg_start']} / {r['loadavg_end']}",
            "",
            "| store | upsert s | index build s | total s | points/s (total) |",
            "| --- | ---: | ---: | ---: | ---: |",
            f"| EdgeStore (qdrant-edge-py) | {e['upsert_s']:.1f} | {e['optimize_s']:.1f} | {e['total_s']:.1f} | {e['points_per_s']:.0f} |",
            f"| qdrant-client local mode (path=){note} | {c['total_s_for_n']:.1f} | none (brute force) | "
            f"{c['total_s_for_n']:.1f} | {c['points_per_s']:.0f} |",
            "",
            f"EdgeStore: upsert alone {e['upsert_points_per_s']:.0f} points/s; reopen {e['reopen_s']:.2f} s; "
            f"{e['disk_mb']:.0f} MB on disk.",
            "",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
