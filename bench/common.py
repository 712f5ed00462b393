"""What the load and start-up benches share: the tests' model cache they reuse, and where their reports go."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
# the tiny models and demo atlas tests/conftest.py builds (same place, same override)
TEST_CACHE = Path(os.environ.get("MIRAGE_TEST_CACHE") or REPO_ROOT / ".cache" / "test-models")


def write_results(name: str, result: Any, report: str, *, indent: int = 2) -> None:
    """bench/results/<name>.json (the figures) and <name>.md (the report)."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=indent))
    (RESULTS / f"{name}.md").write_text(report)
