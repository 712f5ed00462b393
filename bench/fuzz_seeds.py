"""The OpenAPI fuzz of tests/engine/api/test_openapi_fuzz.py with other seeds: is the document exact
beyond CI's one seed? Serves the tiny engine once (cached models, demo atlas) and runs schemathesis
`--checks all` (authenticated, tests/engine/api/schemathesis.toml) once per seed; prints one line per
seed and exits 1 if any run found something.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.fuzz_seeds 20261130 1 2 3 4 5
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG = REPO_ROOT / "tests" / "engine" / "api" / "schemathesis.toml"
TOKEN = "fuzz-test-token-0123456789"
MAX_EXAMPLES = 12  # as in CI


def fuzz(url: str, seed: int, workdir: Path) -> tuple[bool, str]:
    """One schemathesis run; (passed, its summary lines)."""
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG),
        "run", f"{url}/openapi.json", "--checks", "all", "--header", f"Authorization: Bearer {TOKEN}",
        "--max-examples", str(MAX_EXAMPLES), "--seed", str(seed), "--workers", "1",
        "--request-timeout", "120", "--no-color", "--generation-database", "none",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=workdir)
    out = run.stdout + run.stderr
    if run.returncode != 0:  # what it found, in full (the errors and failures sections)
        start = min((i for i in (out.find("=== ERRORS"), out.find("=== FAILURES")) if i >= 0), default=-6000)
        return False, out[max(0, start - 40):]
    tested = re.search(r"Tested: (\d+)", out)
    cases = re.search(r"Test cases:\s*\n?\s*([^\n]+)", out)
    return True, f"{tested.group(0) if tested else '?'} operations; {cases.group(1).strip() if cases else ''}"


def main(seeds: list[int]) -> int:
    """Fuzz the tiny engine once per seed."""
    from engine.tiny.build import ensure_tiny_models
    from engine.tiny.demo_atlas import build_demo_atlas
    from tests.engine.api.helpers import serving_tiny_engine

    cache = Path(os.environ.get("MIRAGE_TEST_CACHE") or REPO_ROOT / ".cache" / "test-models")
    demo = build_demo_atlas(cache / "demo-roco")
    ensure_tiny_models(cache / "models", demo)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp, serving_tiny_engine(
        Path(tmp), cache / "models", demo, engine_token=TOKEN
    ) as url:
        for seed in seeds:
            started = time.monotonic()
            ok, summary = fuzz(url, seed, Path(tmp))
            failed += not ok
            print(f"seed {seed}: {'no findings' if ok else 'FINDINGS'} in {time.monotonic() - started:.0f} s: {summary}",
                  flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main([int(s) for s in sys.argv[1:]] or [20261130]))
