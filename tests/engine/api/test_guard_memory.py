"""Hostile uploads against a real `python -m engine serve` process: memory stays bounded, the engine serves.

Many connections at once send chunked bodies far past the limits (with and without the token) or
drip their body a byte at a time. The engine's resident memory is sampled from /proc all along; it
must not grow with what the clients send, and /healthz and a real search must keep answering.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from .helpers import tiny_engine_process
from .rawhttp import post_chunked

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")]

TOKEN = "memory-test-token-0123456789"
BODY_TIMEOUT_S = 2
ATTACKERS = 8  # of each kind
ATTEMPTED_BYTES = 32 * 2**20  # per oversize connection: 512 MiB in all if the engine buffered them
ALLOWED_GROWTH_BYTES = 96 * 2**20


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def engine(tmp_path_factory, test_cache_dir, demo_atlas_dir):
    env = {"MIRAGE_ENABLE_LLM": "false", "MIRAGE_ENABLE_DIFFUSION": "false", "MIRAGE_ENGINE_TOKEN": TOKEN,
           "MIRAGE_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S)}
    data = tmp_path_factory.mktemp("engine-data")
    with tiny_engine_process(data, test_cache_dir, demo_atlas_dir, env) as (url, process, _):
        yield int(url.rsplit(":", 1)[1]), process.pid
        process.send_signal(signal.SIGINT)  # a clean stop; the helper kills it if this hangs
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(30)


def test_many_hostile_uploads_at_once_leave_memory_bounded_and_the_engine_serving(engine):
    port, pid = engine
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"},
                          timeout=30)
    search = {"query": "Chest x-ray radiograph showing a bright round lesion", "k": 3, "enrich": False}
    for _ in range(3):  # warm up: the first searches allocate what every later one reuses
        assert client.post("/v1/search", json=search).status_code == 200
    baseline = peak = _rss_bytes(pid)
    sampling = True

    def sample() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, _rss_bytes(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    attacks = (
        [("no token", lambda: post_chunked(port, "/v1/search", token=None, total=ATTEMPTED_BYTES))] * ATTACKERS
        + [("oversize", lambda: post_chunked(port, "/v1/compare", token=TOKEN, total=ATTEMPTED_BYTES))] * ATTACKERS
        + [("slow drip", lambda: post_chunked(port, "/v1/search", token=TOKEN, total=10**6, piece=1,
                                              drip_s=0.1))] * ATTACKERS
    )
    served: list[float] = []
    with ThreadPoolExecutor(len(attacks)) as pool:
        futures = [(kind, pool.submit(attack)) for kind, attack in attacks]
        # while they run, the engine keeps answering its probe and a real search
        while not all(f.done() for _, f in futures):
            started = time.monotonic()
            assert client.get("/healthz").status_code == 200
            response = client.post("/v1/search", json=search)
            assert response.status_code == 200 and len(response.json()["hits"]) == 3
            served.append(time.monotonic() - started)
            time.sleep(0.05)
        outcomes = [(kind, f.result()) for kind, f in futures]
    sampling = False
    sampler.join()
    client.close()

    expected = {"no token": 401, "oversize": 413, "slow drip": 408}
    assert [(kind, r.status) for kind, r in outcomes] == [(kind, expected[kind]) for kind, _ in outcomes]
    sent = sum(r.sent for _, r in outcomes)
    assert served and max(served) < 10, f"search answered in {max(served):.1f} s at worst under attack"
    assert peak - baseline < ALLOWED_GROWTH_BYTES, (
        f"the engine grew by {(peak - baseline) / 2**20:.0f} MiB while clients sent {sent / 2**20:.0f} MiB"
    )
