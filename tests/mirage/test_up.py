"""`python -m mirage up`: which children it runs, and the real tiny engine under it."""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

import pytest

from mirage.stack import UpSettings, local_engine_url, stack_specs
from tests.e2e.processes import free_port
from tests.mirage.processes import Watched


def test_without_a_discord_token_only_the_engine_runs() -> None:
    specs = stack_specs(UpSettings(_env_file=None, host="127.0.0.1", port=8711))
    assert [s.name for s in specs] == ["engine"]
    assert specs[0].argv[1:] == ["-m", "engine", "serve", "--host", "127.0.0.1", "--port", "8711"]


def test_with_a_token_the_bot_waits_for_the_engine_and_is_pointed_at_it(monkeypatch) -> None:
    monkeypatch.delenv("MIRAGE_ENGINE_URL", raising=False)
    settings = UpSettings(_env_file=None, host="0.0.0.0", port=8712, discord_token="a-real-looking-token")
    engine, bot = stack_specs(settings)
    assert bot.argv[1:] == ["-m", "bot"] and bot.after == "engine"
    assert bot.env is not None and bot.env["MIRAGE_ENGINE_URL"] == "http://127.0.0.1:8712"
    assert engine.ready is not None


def test_an_engine_url_the_operator_set_is_kept(monkeypatch) -> None:
    monkeypatch.setenv("MIRAGE_ENGINE_URL", "http://gpu-box:8700")
    _, bot = stack_specs(UpSettings(_env_file=None, discord_token="a-real-looking-token"))
    assert bot.env is not None and bot.env["MIRAGE_ENGINE_URL"] == "http://gpu-box:8700"


@pytest.mark.parametrize(
    ("host", "url"),
    [("0.0.0.0", "http://127.0.0.1:1"), ("::1", "http://[::1]:1"), ("engine", "http://engine:1")],
)
def test_the_engine_is_probed_where_this_machine_reaches_it(host: str, url: str) -> None:
    assert local_engine_url(host, 1) == url


@pytest.mark.slow
def test_up_serves_the_tiny_engine_says_how_to_add_the_bot_and_stops_cleanly(
    test_cache_dir: Path, tmp_path: Path
) -> None:
    from tests.e2e.processes import engine_data_dir

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIRAGE_")}
    env |= {
        "MIRAGE_PROFILE": "tiny",
        "MIRAGE_DATA_DIR": str(engine_data_dir(test_cache_dir, tmp_path)),
        "MIRAGE_DEVICE": "cpu",
        "HF_HUB_OFFLINE": "1",
    }
    run = Watched([sys.executable, "-m", "mirage", "up", "--port", str(port)], env=env)
    try:
        run.wait_for(r"serving the engine only\. To add the Discord bot", timeout=30)
        run.wait_for(r"^mirage \| engine is ready$", timeout=600)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as response:
            assert response.status == 200
        assert run.terminate_and_wait(timeout=120) == 0
    finally:
        run.kill()
    out = run.text
    assert "engine | " in out, out  # the engine's own log lines, prefixed
    # the engine drains on SIGTERM and then exits 0 (engine/api/drain.py): a clean stop, never a kill
    assert "engine | INFO:     Finished server process" in out, out
    assert "mirage | engine stopped (status 0)" in out, out
    assert "killing it" not in out, out


def test_up_with_the_engine_port_taken_stops_at_once_and_says_why(tmp_path: Path) -> None:
    """A port in use is a configuration error: the engine exits 2 before loading anything, and `mirage up`
    stops instead of restarting it forever."""
    import socket

    env = {k: v for k, v in os.environ.items() if not k.startswith("MIRAGE_")}
    env |= {"MIRAGE_PROFILE": "tiny", "MIRAGE_DATA_DIR": str(tmp_path), "MIRAGE_DEVICE": "cpu"}
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        run = Watched([sys.executable, "-m", "mirage", "up", "--port", str(port)], env=env)
        try:
            assert run.proc.wait(timeout=60) == 2
            run.wait_for(r"not restarting", timeout=5)  # the reader thread has every line
        finally:
            run.kill()
    out = run.text
    assert f"cannot listen on 127.0.0.1:{port}: the port is already in use" in out, out
    assert "or set MIRAGE_PORT (or --port) to a free port" in out, out
    assert "engine exited with status 2: a configuration error" in out and "not restarting" in out, out
    assert "restarting in" not in out, out
