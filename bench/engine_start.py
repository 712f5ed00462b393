"""How long the tiny-profile engine takes from `python -m engine serve` to GET /readyz 200.

Two cases: *warm* (the tiny models and demo atlas already built, as after the first start; the
atlas is indexed anew in a fresh data dir) and *cold* (an empty data dir: the tiny models are built
and the tiny CLIP trained first). Figures feed the probe budgets that tests/deploy checks.

    .venv/bin/python bench/engine_start.py            # warm x3 and cold x1
    .venv/bin/python bench/engine_start.py --no-cold

Writes bench/results/engine_start.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import TEST_CACHE, write_results  # noqa: E402
from tests.e2e.processes import EngineProcess, engine_data_dir  # noqa: E402


def time_start(data_dir: Path, log: Path) -> float:
    """Seconds from process start until /readyz answers 200."""
    started = time.monotonic()
    engine = EngineProcess(data_dir, log).start(timeout=1800)
    elapsed = time.monotonic() - started
    engine.stop()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm-runs", type=int, default=3)
    parser.add_argument("--no-cold", action="store_true")
    args = parser.parse_args()
    runs: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.warm_runs):
            work = Path(tmp) / f"warm{n}"
            seconds = time_start(engine_data_dir(TEST_CACHE, work), work / "engine.log")
            runs.append({"case": "warm", "seconds": round(seconds, 1), "load": os.getloadavg()[0]})
            print(runs[-1], flush=True)
        if not args.no_cold:
            work = Path(tmp) / "cold"
            (work / "data").mkdir(parents=True)
            seconds = time_start(work / "data", work / "engine.log")
            runs.append({"case": "cold", "seconds": round(seconds, 1), "load": os.getloadavg()[0]})
            print(runs[-1], flush=True)
    when = time.strftime("%Y-%m-%d")
    lines = [
        "# Tiny-profile engine: process start to /readyz 200",
        "",
        f"`.venv/bin/python bench/engine_start.py`, {when}, {os.cpu_count()} CPUs shared with other work.",
        "",
        "| case | seconds | load average (1 min) at the end |",
        "| --- | ---: | ---: |",
        *[f"| {r['case']} | {r['seconds']} | {r['load']:.1f} |" for r in runs],
    ]
    result = {"date": when, "machine": platform.platform(), "cpus": os.cpu_count(), "runs": runs}
    write_results("engine_start", result, "\n".join(lines) + "\n", indent=1)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
