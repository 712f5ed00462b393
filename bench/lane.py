"""One compute lane against a thread per model role: the same model calls, in one run.

The engine's batchers each have a dispatcher thread (clip_text, clip_image, llm, diffusion). Before
engine/batching/lane.py each ran its model calls itself, so four OpenMP teams lived in the process and
libgomp throttled their spin-wait; now every CPU model call runs on one lane thread. This bench times
one client's enriched searches (CLIP text → LLM → CLIP text) and fast generations (LCM 4 steps → CLIP
image) on the CPU-shape models of `bench/batching.py`, in two modes that alternate `--rounds` times:

- threads: each role's calls on its own persistent thread (the engine before the lane),
- lane:    every call on one ComputeLane thread (the engine now).

Each mode's threads end before the next mode starts (a thread's OpenMP team ends with it), and the
models are loaded on a thread that has ended too, so neither mode inherits the other's teams.

    .venv/bin/python bench/lane.py --out bench/results/lane
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "bench")]

import batching  # noqa: E402  (bench/batching.py: the CPU-shape models)

from engine.batching.lane import ComputeLane  # noqa: E402

ROLES = ("clip_text", "clip_image", "llm", "diffusion")


class PerRoleThreads:
    """A persistent thread per role, as the batchers' dispatchers were."""

    def __init__(self) -> None:
        self.pools = {role: ThreadPoolExecutor(1, thread_name_prefix=role) for role in ROLES}

    def run(self, role: str, fn, *args, **kwargs):
        return self.pools[role].submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        for pool in self.pools.values():
            pool.shutdown(wait=True)


class OneLane:
    """Every role's calls on one lane thread."""

    def __init__(self) -> None:
        self.lane = ComputeLane("bench-lane")

    def run(self, role: str, fn, *args, **kwargs):
        return self.lane.run(fn, *args, **kwargs)

    def close(self) -> None:
        self.lane.close()


def search(models: batching.Loaded, where, n: int, tokens: int) -> None:
    from engine.models.base import Prompt

    query = batching.QUERIES[n % len(batching.QUERIES)]
    where.run("clip_text", models.clip.encode_text, [query])
    enriched = where.run("llm", models.llm.generate, Prompt(f"Explain: {query}"), max_new_tokens=tokens,
                         top_p=0.9, seed=n)
    where.run("clip_text", models.clip.encode_text, [enriched or query])


def generate(models: batching.Loaded, where, n: int, tokens: int) -> None:
    image = where.run("diffusion", models.diffusion.generate, f"axial CT, {batching.QUERIES[n % 8]}", seed=n,
                      steps=4, guidance=1.5, fast=True)
    where.run("clip_image", models.clip.encode_images, [image])


def time_mode(mode, models, kind, requests: int, tokens: int) -> list[float]:
    where = mode()
    work = search if kind == "search" else generate
    try:
        work(models, where, 0, tokens)  # warm-up: first calls allocate and pick kernels
        latencies = []
        for n in range(requests):
            started = time.perf_counter()
            work(models, where, n, tokens)
            latencies.append(time.perf_counter() - started)
        return latencies
    finally:
        where.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="times each mode runs, alternating")
    parser.add_argument("--requests", type=int, default=5, help="requests per kind per round")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / ".cache" / "bench-batching")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import torch

    paths = batching.build_models(args.cache, full=False)
    with ThreadPoolExecutor(1) as loader:  # loaded on a thread that then ends: no team stays behind
        models = loader.submit(batching.load_models, paths, "cpu", args.cache).result()
    samples: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for kind in ("search", "generate"):
            for name, mode in (("threads", PerRoleThreads), ("lane", OneLane)):
                samples.setdefault((kind, name), []).extend(time_mode(mode, models, kind, args.requests, args.tokens))
    rows = []
    for kind in ("search", "generate"):
        before, after = (statistics.median(samples[(kind, m)]) for m in ("threads", "lane"))
        rows.append({"kind": kind, "threads_p50_s": round(before, 3), "lane_p50_s": round(after, 3),
                     "lane_over_threads": round(after / before, 3), "n": len(samples[(kind, "lane")])})
    meta = {"command": " ".join([".venv/bin/python", *sys.argv]), "torch_threads": torch.get_num_threads(),
            "loadavg_end": [round(x, 1) for x in os.getloadavg()], "tokens": args.tokens}
    lines = ["| kind | thread per role, p50 s | one lane, p50 s | lane / threads | requests per mode |",
             "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['kind']} | {r['threads_p50_s']} | {r['lane_p50_s']} | {r['lane_over_threads']} | {r['n']} |"
              for r in rows]
    text = f"`{meta['command']}` (torch threads {meta['torch_threads']}, load at end {meta['loadavg_end']})\n\n"
    text += "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
        args.out.with_suffix(".md").write_text(text)


if __name__ == "__main__":
    main()
