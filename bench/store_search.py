"""Benchmark: atlas search latency and recall, embedded Qdrant (EdgeStore) vs a NumPy full scan.

Two generated sets of unit vectors at ROCO's size (81k x 768 by default):
- low-rank: a rank-64 Gaussian latent through a fixed random 768x64 map, plus small noise
  (closer to real CLIP embeddings, which occupy a low-dimensional part of the sphere);
- clusters: isotropic Gaussian clusters around random centres (the hard case for HNSW).

In the same run it times, per query (one query at a time, as the engine serves them):
the NumPy full scan (float32 matmul + argpartition, the reference implementation), EdgeStore
after optimize() at several hnsw_ef values, int8 scalar quantization with rescoring and
oversampling, and the engine's exact search. Recall@k is measured against the NumPy scan.

    .venv/bin/python bench/store_search.py                 # full size (minutes)
    .venv/bin/python bench/store_search.py --quick         # 20k x 256, a smoke run

Writes bench/results/store_search[_quick].{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.store.base import AtlasPayload, AtlasRecord, SearchParams  # noqa: E402
from engine.store.edge import EdgeStore  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
MODALITIES = ("x-ray", "ct", "mri", "ultrasound", "angiography", "nuclear", "other")


@dataclass
class Row:
    """One measured configuration."""

    dataset: str
    method: str
    hnsw_ef: int | None
    p50_ms: float
    p99_ms: float
    mean_ms: float
    recall: float
    ratio_to_scan: float


# ---- data -----------------------------------------------------------------------------------


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32)."""
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def low_rank_set(
    n: int, q: int, dim: int, rank: int, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Atlas and queries from one rank-`rank` latent through a fixed random map, plus noise."""
    rng = np.random.default_rng(seed)
    mapping = rng.standard_normal((dim, rank)).astype(np.float32) / np.sqrt(rank)

    def draw(m: int) -> np.ndarray:
        signal = unit(rng.standard_normal((m, rank)).astype(np.float32) @ mapping.T)
        return unit(signal + noise / np.sqrt(dim) * rng.standard_normal((m, dim)).astype(np.float32))

    return draw(n), draw(q)


def cluster_set(
    n: int, q: int, dim: int, clusters: int, spread: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Atlas and queries drawn around `clusters` random centres with isotropic noise of norm ~spread."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((clusters, dim)).astype(np.float32))

    def draw(m: int) -> np.ndarray:
        which = rng.integers(0, clusters, size=m)
        return unit(centres[which] + spread / np.sqrt(dim) * rng.standard_normal((m, dim)).astype(np.float32))

    return draw(n), draw(q)


# ---- timing ---------------------------------------------------------------------------------


def numpy_scan(atlas: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """The reference implementation: scores of every row, top-k by argpartition, sorted."""
    scores = atlas @ query
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


def time_queries(fn, queries: np.ndarray, warmup: int = 20) -> tuple[list[list[int]], np.ndarray]:
    """Run fn(query) -> ids for every query; return the ids and per-query seconds."""
    for qv in queries[:warmup]:
        fn(qv)
    ids, secs = [], np.empty(len(queries))
    for i, qv in enumerate(queries):
        t0 = time.perf_counter()
        ids.append(list(fn(qv)))
        secs[i] = time.perf_counter() - t0
    return ids, secs


def recall_at_k(found: list[list[int]], truth: list[list[int]], k: int) -> float:
    """Mean fraction of the true top-k that was found."""
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth, strict=True)]))


def build_store(
    path: Path, atlas: np.ndarray, quantization: str, m: int, ef_construct: int
) -> tuple[EdgeStore, dict]:
    """An EdgeStore holding `atlas` (payload: id and modality), optimized; with build timings."""
    store = EdgeStore.create(
        path, atlas.shape[1], hnsw_m=m, ef_construct=ef_construct, quantization=quantization
    )
    t0 = time.perf_counter()
    batch = 1024
    for start in tqdm(range(0, len(atlas), batch), desc=f"upsert ({quantization})", leave=False):
        store.upsert(
            [
                AtlasRecord(atlas[i], AtlasPayload(atlas_id=str(i), caption="", modality=MODALITIES[i % 7]))
                for i in range(start, min(start + batch, len(atlas)))
            ]
        )
    upsert_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    store.optimize()
    return store, {"upsert_s": round(upsert_s, 2), "optimize_s": round(time.perf_counter() - t0, 2)}


def bench_set(
    name: str, atlas: np.ndarray, queries: np.ndarray, args: argparse.Namespace, workdir: Path
) -> tuple[list[Row], dict]:
    """Every configuration on one data set."""
    k = args.k
    truth, scan_s = time_queries(lambda qv: numpy_scan(atlas, qv, k), queries)
    scan_p50 = float(np.median(scan_s))
    rows = [_row(name, "numpy full scan", None, scan_s, 1.0, scan_p50)]
    builds = {}

    def edge_rows(store: EdgeStore, label: str, params_list: list[tuple[int | None, SearchParams]]) -> None:
        for ef, params in tqdm(params_list, desc=f"{name}: {label}", leave=False):
            ids, secs = time_queries(
                lambda qv, p=params: [int(h.atlas_id) for h in store.search(qv, k, params=p)], queries
            )
            rows.append(_row(name, label, ef, secs, recall_at_k(ids, truth, k), scan_p50))

    if "float32" in args.stores:
        store, builds["float32"] = build_store(
            workdir / f"{name}-f32", atlas, "none", args.m, args.ef_construct
        )
        edge_rows(store, "edge hnsw", [(ef, SearchParams(hnsw_ef=ef)) for ef in args.efs])
        edge_rows(store, "edge exact", [(None, SearchParams(exact=True))])
        store.close()

    if "int8" in args.stores:
        store, builds["int8"] = build_store(
            workdir / f"{name}-int8", atlas, "int8", args.m, args.ef_construct
        )
        edge_rows(
            store,
            f"edge hnsw int8 rescore x{args.oversampling:g}",
            [
                (ef, SearchParams(hnsw_ef=ef, rescore=True, oversampling=args.oversampling))
                for ef in args.int8_efs
            ],
        )
        edge_rows(
            store,
            "edge hnsw int8 no rescore",
            [(ef, SearchParams(hnsw_ef=ef, rescore=False)) for ef in args.int8_efs[:1]],
        )
        store.close()
    # the machine is shared: time the scan again at the end, to show how much the load moved
    _, scan_again = time_queries(lambda qv: numpy_scan(atlas, qv, k), queries)
    rows.append(_row(name, "numpy full scan (again, at the end)", None, scan_again, 1.0, scan_p50))
    return rows, builds


def _row(dataset: str, method: str, ef: int | None, secs: np.ndarray, recall: float, scan_p50: float) -> Row:
    ms = secs * 1000
    return Row(
        dataset=dataset,
        method=method,
        hnsw_ef=ef,
        p50_ms=round(float(np.median(ms)), 3),
        p99_ms=round(float(np.percentile(ms, 99)), 3),
        mean_ms=round(float(ms.mean()), 3),
        recall=round(recall, 4),
        ratio_to_scan=round(float(np.median(ms)) / (scan_p50 * 1000), 3),
    )


# ---- report ---------------------------------------------------------------------------------


def markdown(rows: list[Row], meta: dict) -> str:
    """The results as a markdown table, with the run's parameters."""
    k = meta["args"]["k"]
    lines = [
        f"# store_search: {meta['args']['n']} x {meta['args']['dim']}, {meta['args']['queries']} queries, k={k}",
        "",
        f"Command: `{meta['command']}`  ",
        f"Machine: {meta['machine']}  ",
        f"Load average at start / end: {meta['loadavg_start']} / {meta['loadavg_end']}  ",
        f"Builds (upsert s / optimize s): {json.dumps(meta['builds'])}",
        "",
        f"| set | method | hnsw_ef | p50 ms | p99 ms | recall@{k} | p50 / scan |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        ef = "" if r.hnsw_ef is None else str(r.hnsw_ef)
        lines.append(
            f"| {r.dataset} | {r.method} | {ef} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.recall:.3f} | {r.ratio_to_scan:.2f} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=81_000, help="atlas size")
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--rank", type=int, default=64, help="latent rank of the low-rank set")
    ap.add_argument(
        "--noise", type=float, default=0.2, help="noise norm relative to the unit signal (low-rank)"
    )
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--spread", type=float, default=2.0, help="noise norm around a unit centre (clusters)")
    ap.add_argument(
        "--efs", type=lambda s: [int(x) for x in s.split(",")], default=[16, 32, 64, 128, 256, 512]
    )
    ap.add_argument("--int8-efs", type=lambda s: [int(x) for x in s.split(",")], default=[64, 128, 256])
    ap.add_argument("--oversampling", type=float, default=2.0)
    ap.add_argument("--quantization", choices=("int8", "binary2"), default="int8",
                    help="large-n run (store_scale.py): the graph walk's quantization (binary2 wants --oversampling 16)")
    ap.add_argument(
        "--stores",
        type=lambda s: s.split(","),
        default=["float32", "int8"],
        help="which stores to build: float32,int8 (each build takes minutes at full size)",
    )
    ap.add_argument("--m", type=int, default=16, help="HNSW m")
    ap.add_argument("--ef-construct", type=int, default=100)
    ap.add_argument("--sets", default="low-rank,clusters")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="20k x 256, 100 queries")
    ap.add_argument("--scale", action="store_true",
                    help="the large-n run of bench/store_scale.py (automatic above 400k points): int8 store only")
    ap.add_argument("--scan-rows", type=int, default=None,
                    help="large-n run: rows the timed NumPy scan holds in RAM (default all that fit)")
    ap.add_argument("--vectors-on-disk", action="store_true", help="large-n run: float32 originals Cold (mmap)")
    ap.add_argument("--workdir", type=Path, default=None, help="large-n run: where the memmap and store go")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--tag", default="", help="suffix for the result files")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.dim, args.queries = 20_000, 256, 100
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write JSON + markdown results."""
    args = parse_args(argv)
    meta = {
        "command": "python "
        + " ".join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), "
        f"python {platform.python_version()}, numpy {np.__version__}",
        "loadavg_start": os.getloadavg(),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "builds": {},
    }
    generators = {
        "low-rank": lambda: low_rank_set(args.n, args.queries, args.dim, args.rank, args.noise, args.seed),
        "clusters": lambda: cluster_set(
            args.n, args.queries, args.dim, args.clusters, args.spread, args.seed + 1
        ),
    }
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="mirage-bench-", dir=args.workdir) as tmp:
        if args.scale or args.n > 400_000:
            from store_scale import run_scale  # the 1.6M run: chunked data, fresh serving process

            rows, meta["scale"] = run_scale(args, meta, Path(tmp))
            print(markdown(rows, {**meta, "loadavg_end": os.getloadavg()}).split("\n\n", 1)[1])
            print(json.dumps(meta["scale"], indent=1))
        for name in [] if (args.scale or args.n > 400_000) else args.sets.split(","):
            atlas, queries = generators[name]()
            set_rows, builds = bench_set(name, atlas, queries, args, Path(tmp))
            rows += set_rows
            meta["builds"][name] = builds
            print(markdown(set_rows, {**meta, "loadavg_end": os.getloadavg()}).split("\n\n", 1)[1])
    meta["loadavg_end"] = os.getloadavg()
    suffix = ("_quick" if args.quick else "") + (f"_{args.tag}" if args.tag else "")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"store_search{suffix}.json").write_text(
        json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=2)
    )
    (args.out / f"store_search{suffix}.md").write_text(markdown(rows, meta))
    print(f"wrote {args.out / f'store_search{suffix}.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
