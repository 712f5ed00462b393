"""Every engine command with invalid settings prints the one settings message and exits 2: no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.deploy.manifests import REPO_ROOT


@pytest.mark.parametrize(
    "argv",
    [["serve"], ["index", "--parquet", "some/mirror", "--split", "train"], ["migrate", "--to-url", "http://q:6333"]],
    ids=["serve", "index", "migrate"],
)
def test_invalid_settings_give_the_settings_message_not_a_traceback(argv: list[str], tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIRAGE_")}
    env |= {"MIRAGE_PORT": "not-a-port", "MIRAGE_DATA_DIR": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-m", "engine", *argv], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=120)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert "invalid settings: MIRAGE_PORT" in out, out
    assert "Traceback" not in out, out
