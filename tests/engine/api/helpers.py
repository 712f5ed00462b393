"""Serving an app on a real loopback socket, and engine runtimes around fake components."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import httpx
import uvicorn
from fastapi import FastAPI

from engine.api.app import create_app
from engine.config import EngineSettings
from engine.runtime import EngineRuntime
from tests.engine.pipelines.fakes import BagOfWordsClip, NoiseDiffusion, ScriptedLLM, atlas_of

REPO = Path(__file__).resolve().parents[3]
# what `model_ids_for` answers in tests that swap the model loaders for fakes
FAKE_MODEL_IDS = SimpleNamespace(clip="fake-clip", llm="fake-llm", diffusion="fake-diffusion", lcm_lora=None)

CAPTIONS = {
    "ROCO_00001": "pleural effusion with blunted costophrenic angle",
    "ROCO_00002": "pneumothorax with visible pleural line",
    "ROCO_00003": "fracture of the distal radius",
    "ROCO_00004": "cardiomegaly on chest radiograph",
}


def settings_for(data_dir: Path, **overrides) -> EngineSettings:
    """Settings that ignore the developer's .env and environment tokens."""
    base = {"data_dir": data_dir, "engine_token": None, "host": "127.0.0.1"}
    return EngineSettings(_env_file=None, **(base | overrides))


def fake_runtime(data_dir: Path, *, llm=None, diffusion=None, **overrides) -> EngineRuntime:
    """A loaded runtime on a bag-of-words CLIP, an in-memory atlas, a scripted LLM and noise diffusion."""
    clip = BagOfWordsClip()
    return EngineRuntime.from_components(
        settings_for(data_dir, **overrides),
        clip=clip,
        store=atlas_of(CAPTIONS, clip),
        llm=llm or ScriptedLLM("fracture of the distal radius"),
        diffusion=diffusion or NoiseDiffusion(),
    )


def indexed_demo_atlas(data_dir: Path, demo_atlas_dir: Path, clip):
    """A fresh EdgeStore at `data_dir`/atlas with the demo atlas indexed through the real ingestion
    (an engine's app closes its store when it stops, so each engine needs its own)."""
    from engine.atlas.ingest import index_roco_layout
    from engine.store.edge import EdgeStore

    store = EdgeStore.open_or_create(data_dir / "atlas", clip.dim)
    index_roco_layout(demo_atlas_dir, store, clip, progress=False)
    return store


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run `app` with uvicorn on 127.0.0.1 on a free port in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll `predicate` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


@contextmanager
def serving_tiny_engine(data_dir: Path, models_dir: Path, demo_atlas_dir: Path, **overrides) -> Iterator[str]:
    """The whole engine on the tiny profile (shared cached models, a fresh atlas store) served on
    loopback; yields its base URL once /readyz says ready."""
    (data_dir / "models").symlink_to(models_dir, target_is_directory=True)
    (data_dir / "demo-roco").symlink_to(demo_atlas_dir, target_is_directory=True)
    base = {"profile": "tiny", "device": "cpu", "diffusion_steps": 2, "fast_steps": 2, "llm_max_new_tokens": 8}
    runtime = EngineRuntime(settings_for(data_dir, **(base | overrides)))
    with serving(create_app(runtime)) as url:
        deadline = time.monotonic() + 240
        while httpx.get(f"{url}/readyz", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, httpx.get(f"{url}/readyz").text
            time.sleep(0.2)
        yield url
    runtime.close()


@contextmanager
def tiny_engine_process(
    data_dir: Path, test_cache_dir: Path, demo_atlas_dir: Path, env: dict[str, str], *, ready_within_s: float = 240
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """`python -m engine serve` in the tiny profile on a free loopback port, with the cached tiny models
    and demo atlas; yields (url, process, log path) once /readyz is 200, kills it at the end if still
    running. `env` adds MIRAGE_* settings (a token, which components to load, …)."""
    (data_dir / "models").symlink_to(test_cache_dir / "models", target_is_directory=True)
    (data_dir / "demo-roco").symlink_to(demo_atlas_dir, target_is_directory=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process_env = {k: v for k, v in os.environ.items() if not k.startswith("MIRAGE_")}
    process_env |= {"MIRAGE_PROFILE": "tiny", "MIRAGE_DATA_DIR": str(data_dir), "MIRAGE_DEVICE": "cpu",
                    "PYTHONPATH": str(REPO), **env}
    log_path = data_dir / "engine.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", str(port)],
                                   cwd=data_dir, env=process_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_within_s
        while True:
            assert process.poll() is None, log_path.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "engine not ready: " + log_path.read_text()[-3000:]
            time.sleep(0.3)
        yield url, process, log_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
