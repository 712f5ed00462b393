"""The atlas at PMC-OA's size (issue 21 item 2): `store_search.py --n 1600000` runs this.

At 1.6M x 768 the float32 matrix alone is 4.9 GB, so nothing here holds it twice:
1. the low-rank set is generated chunk by chunk (each chunk from its own seed) into a float32
   memmap on disk (the same distribution as store_search.py's low-rank set);
2. the exact top-k of every query is computed chunk by chunk (exact recall, no full matrix in RAM);
3. an EdgeStore (int8 or binary2, `--quantization`) is built from the memmap (upsert, then optimize = index build), both timed;
4. the store is closed and a FRESH process opens it and serves the queries at each hnsw_ef, so its
   RSS is the serving figure (VmRSS, anonymous vs file-backed, peak), not the builder's;
5. the NumPy full scan is timed on `--scan-rows` rows held in RAM (all n when the machine has room,
   else a subset, said in the result), in the same run.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

import store_search as ss  # noqa: E402

from engine.store.base import AtlasPayload, AtlasRecord, SearchParams  # noqa: E402
from engine.store.edge import EdgeStore  # noqa: E402

CHUNK = 50_000
UPSERT_BATCH = 2048


def mem_status() -> dict[str, int]:
    """This process's memory figures in MB (from /proc/self/status)."""
    out: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(rest.split()[0]) // 1024
    return out


def mem_available_mb() -> int:
    """The machine's MemAvailable in MB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def du_mb(path: Path) -> float:
    """Bytes on disk under `path`, in MB (allocated blocks, as `du` counts them)."""
    total = 0
    for p in path.rglob("*"):
        if p.is_file():
            total += p.stat().st_blocks * 512
    return round(total / 1e6, 1)


# ---- 1-2: data and exact truth ----------------------------------------------------------------


def generate(path: Path, n: int, q: int, dim: int, rank: int, noise: float, seed: int) -> tuple[np.memmap, np.ndarray]:
    """The atlas as a float32 memmap at `path` (chunked, one seed per chunk) and `q` queries."""
    rng = np.random.default_rng(seed)
    mapping = rng.standard_normal((dim, rank)).astype(np.float32) / np.sqrt(rank)

    def draw(r: np.random.Generator, m: int) -> np.ndarray:
        signal = ss.unit(r.standard_normal((m, rank)).astype(np.float32) @ mapping.T)
        return ss.unit(signal + noise / np.sqrt(dim) * r.standard_normal((m, dim)).astype(np.float32))

    atlas = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
    children = np.random.SeedSequence(seed).spawn(n // CHUNK + 2)
    for c, start in enumerate(range(0, n, CHUNK)):
        atlas[start : start + CHUNK] = draw(np.random.default_rng(children[c]), min(CHUNK, n - start))
    atlas.flush()
    return atlas, draw(np.random.default_rng(children[-1]), q)


def exact_top_k(atlas: np.ndarray, queries: np.ndarray, k: int) -> list[list[int]]:
    """The true top-k ids of every query, one chunk of the atlas at a time."""
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(atlas), CHUNK):
        scores = queries @ np.asarray(atlas[start : start + CHUNK]).T  # (q, chunk)
        all_s = np.concatenate([best_s, scores], axis=1)
        all_i = np.concatenate([best_i, np.arange(start, start + scores.shape[1])[None, :].repeat(len(queries), 0)], axis=1)
        top = np.argpartition(-all_s, k, axis=1)[:, :k]
        best_s = np.take_along_axis(all_s, top, 1)
        best_i = np.take_along_axis(all_i, top, 1)
    order = np.argsort(-best_s, axis=1)
    return np.take_along_axis(best_i, order, 1).tolist()


# ---- 3: build ---------------------------------------------------------------------------------


def build(path: Path, atlas: np.ndarray, args) -> dict:
    """A quantized EdgeStore (`--quantization`) at `path` from the memmap; upsert and optimize timed, disk
    and RSS measured."""
    store = EdgeStore.create(
        path, atlas.shape[1], hnsw_m=args.m, ef_construct=args.ef_construct, quantization=args.quantization,
        vectors_on_disk=args.vectors_on_disk,
    )
    t0 = time.perf_counter()
    for start in range(0, len(atlas), UPSERT_BATCH):
        rows = np.asarray(atlas[start : start + UPSERT_BATCH])
        store.upsert([
            AtlasRecord(rows[j], AtlasPayload(atlas_id=str(start + j), caption="", modality=ss.MODALITIES[(start + j) % 7]))
            for j in range(len(rows))
        ])
        if start // 200_000 != (start + UPSERT_BATCH) // 200_000:
            print(f"  upserted {start:,} ({time.perf_counter() - t0:.0f} s, load {os.getloadavg()[0]:.1f})", flush=True)
    upsert_s = time.perf_counter() - t0
    load_mid = os.getloadavg()
    t0 = time.perf_counter()
    store.optimize()
    optimize_s = time.perf_counter() - t0
    builder_mem = mem_status()
    store.close()
    return {
        "upsert_s": round(upsert_s, 1), "optimize_s": round(optimize_s, 1),
        "total_s": round(upsert_s + optimize_s, 1), "loadavg_after_upsert": load_mid,
        "loadavg_after_optimize": os.getloadavg(), "builder_mem_mb": builder_mem, "disk_mb": du_mb(path),
    }


# ---- 4: serve in a fresh process ----------------------------------------------------------------


def serve(store_path: str, queries_file: str, efs: str, k: int, oversampling: float, out: str) -> None:
    """Child process: open the atlas, time single queries at each ef, write ids, times and RSS."""
    mem0 = mem_status()
    store = EdgeStore.open(Path(store_path))
    mem_open = mem_status()
    queries = np.load(queries_file)
    result = {"mem_before_open_mb": mem0, "mem_after_open_mb": mem_open, "runs": []}
    for ef in [int(x) for x in efs.split(",")]:
        params = SearchParams(hnsw_ef=ef, rescore=True, oversampling=oversampling)
        ids, secs = ss.time_queries(lambda qv, p=params: [int(h.atlas_id) for h in store.search(qv, k, params=p)], queries)
        result["runs"].append({"ef": ef, "ids": ids, "secs": secs.tolist(), "mem_mb": mem_status(), "loadavg": os.getloadavg()})
    store.close()
    Path(out).write_text(json.dumps(result))


def serve_in_child(store_path: Path, queries: np.ndarray, args, workdir: Path) -> dict:
    """Run `serve` in a fresh interpreter and read its result."""
    qfile, out = workdir / "queries.npy", workdir / "serve.json"
    np.save(qfile, queries)
    efs = ",".join(str(e) for e in args.int8_efs)
    subprocess.run(
        [sys.executable, __file__, "serve", str(store_path), str(qfile), efs, str(args.k), str(args.oversampling), str(out)],
        check=True,
    )
    return json.loads(out.read_text())


# ---- 5: the scan, and the whole run -------------------------------------------------------------


def scan_rows_that_fit(n: int, dim: int, wanted: int | None) -> int:
    """All n rows when the machine has room for them (plus 4 GB to spare), else 400k."""
    if wanted:
        return min(wanted, n)
    need_mb = n * dim * 4 / 1e6
    return n if mem_available_mb() > need_mb + 4000 else min(n, 400_000)


def run_scale(args, meta: dict, workdir: Path) -> tuple[list, dict]:
    """Steps 1-5 on the low-rank set; returns store_search Rows and the extra figures."""
    t0 = time.perf_counter()
    atlas, queries = generate(workdir / "atlas.npy", args.n, args.queries, args.dim, args.rank, args.noise, args.seed)
    print(f"generated {args.n:,} x {args.dim} in {time.perf_counter() - t0:.0f} s", flush=True)
    truth = exact_top_k(atlas, queries, args.k)
    extra: dict = {"build": build(workdir / "store", atlas, args)}
    print(f"built: {extra['build']}", flush=True)
    served = serve_in_child(workdir / "store", queries, args, workdir)
    rows_n = scan_rows_that_fit(args.n, args.dim, args.scan_rows)
    matrix = np.array(atlas[:rows_n])  # in RAM, as the engine's NumPy reference would hold it
    del atlas
    gc.collect()
    sub_truth = truth if rows_n == args.n else None
    scan_ids, scan_s = ss.time_queries(lambda qv: ss.numpy_scan(matrix, qv, args.k), queries)
    scan_p50 = float(np.median(scan_s))
    label = "numpy full scan" if rows_n == args.n else f"numpy scan of a {rows_n:,}-row subset (machine too small for all)"
    rows = [ss._row("low-rank", label, None, scan_s, ss.recall_at_k(scan_ids, sub_truth, args.k) if sub_truth else 1.0, scan_p50)]
    for run in served["runs"]:
        rows.append(ss._row("low-rank", f"edge {args.quantization} rescore x{args.oversampling:g} (fresh process)", run["ef"],
                            np.asarray(run["secs"]), ss.recall_at_k(run["ids"], truth, args.k), scan_p50))
    extra.update(scan_rows=rows_n, serve_mem_mb={
        "after_open": served["mem_after_open_mb"], "after_queries": [r["mem_mb"] for r in served["runs"]],
    }, serve_loadavg=[r["loadavg"] for r in served["runs"]])
    return rows, extra


if __name__ == "__main__" and len(sys.argv) == 8 and sys.argv[1] == "serve":
    serve(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6]), sys.argv[7])
