"""`python -m engine …`: the command table, the loopback guard, and `serve` as a real process."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from engine.__main__ import build_parser, main

REPO = Path(__file__).resolve().parents[3]


def _commands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return set(sub.choices)


def test_serve_and_the_registered_commands_are_available():
    assert "serve" in _commands()
    # each command module that exists registers its command
    present = {name for module, name in [("atlas", "index"), ("store", "migrate"), ("eval", "eval")]
               if (REPO / "engine" / module / "cli.py").exists()}
    assert present <= _commands()


def test_serve_refuses_a_public_host_without_a_token(monkeypatch, tmp_path, caplog):
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.delenv("MIRAGE_ENGINE_TOKEN", raising=False)
    with caplog.at_level(logging.ERROR):
        assert main(["serve", "--host", "0.0.0.0", "--port", "8799"]) == 2
    assert "MIRAGE_ENGINE_TOKEN is unset, so the engine only listens on loopback; got host '0.0.0.0'" in caplog.text


@pytest.mark.slow
def test_serve_runs_as_a_process_answers_health_while_loading_and_stops_on_sigint(tmp_path, test_cache_dir, demo_atlas_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "models").symlink_to(test_cache_dir / "models", target_is_directory=True)
    (tmp_path / "demo-roco").symlink_to(demo_atlas_dir, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIRAGE_")}
    env |= {"MIRAGE_PROFILE": "tiny", "MIRAGE_DATA_DIR": str(tmp_path), "MIRAGE_DEVICE": "cpu",
            "MIRAGE_ENABLE_LLM": "false", "MIRAGE_ENABLE_DIFFUSION": "false", "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.stdout.read()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "engine did not answer /healthz"
            time.sleep(0.2)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code in (200, 503) and "clip" in ready.json()["detail"]
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    assert "engine loading (profile tiny" in output
