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
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.processes import EngineProcess, engine_data_dir  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = Path(os.environ.get("MIRAGE_TEST_CACHE") or Path(__file__).resolve().parents[1] / ".cache" / "test-models")


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
            seconds = time_start(engine_data_dir(CACHE, work), work / "engine.log")
            runs.append({"case": "warm", "seconds": round(seconds, 1), "load": os.getloadavg()[0]})
            print(runs[-1], flush=True)
        if not args.no_cold:
            work = Path(tmp) / "cold"
            (work / "data").mkdir(parents=True)
            seconds = time_start(work / "data", work / "engine.log")
            runs.append({"case": "cold", "seconds": round(seconds, 1), "load": os.getloadavg()[0]})
            print(runs[-1], flush=True)
    when = time.strftime("%Y-%m-%d")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "engine_start.json").write_text(
        json.dumps({"date": when, "machine": platform.platform(), "cpus": os.cpu_count(), "runs": runs}, indent=1)
    )
    lines = [
        "# Tiny-profile engine: process start to /readyz 200",
        "",
        f"`.venv/bin/python bench/engine_start.py`, {when}, {os.cpu_count()} CPUs shared with other work.",
        "",
        "| case | seconds | load average (1 min) at the end |",
        "| --- | ---: | ---: |",
        *[f"| {r['case']} | {r['seconds']} | {r['load']:.1f} |" for r in runs],
    ]
    (RESULTS / "engine_start.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
