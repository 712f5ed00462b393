"""`gpu_bench.py --device cpu --full`: every pipeline at full model shapes, on the CPU, through the real
profile's loaders and the HTTP app (issue 21 item 3).

1. Build (once, cached in `--cache`) the random full-size models (bench/full_models.py), one role per
   process; a role already built is reused.
2. Fill an embedded atlas of random 768-d points with captions and small JPEGs, recording the CLIP
   directory as the model that filled it (so the engine's provenance check passes).
3. Start `python -m engine serve` with the real profile pointed at those directories (CLIP + LLM,
   diffusion off: at most one big model besides CLIP in RAM), wait for /readyz, and send search
   with enrichment, compare, image search, ask and quiz over HTTP; stop it.
4. Start it again with diffusion on and the LLM off; send generate in LCM fast mode and in full mode.
Every answer is parsed with engine/contract.py's response model and checked (hit counts, 512x512
PNG stamped synthetic, the disclaimer, citations into context). A wall-clock budget (default 1200 s,
the whole run including any build) stops sending requests once spent; what was skipped is said.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(Path(__file__).resolve().parent), str(REPO)]

import gpu_bench as gb  # noqa: E402

from engine import contract as c  # noqa: E402

MODALITIES = ("x-ray", "ct", "mri", "ultrasound", "angiography", "nuclear")


def machine() -> dict:
    """Load average and memory now (the machine is shared)."""
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return {"loadavg": [round(x, 2) for x in os.getloadavg()],
            "mem_available_gb": round(int(info["MemAvailable"].split()[0]) / 2**20, 1)}


class Run:
    """The budget, the stage timings and the report."""

    def __init__(self, budget_s: float) -> None:
        self.t0, self.budget_s = time.perf_counter(), budget_s
        self.stages: list[dict] = []
        self.skipped: list[str] = []

    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.t0)

    def stage(self, name: str, fn, **info) -> object:
        """Time `fn()` as stage `name` (skipped when the budget is spent)."""
        if self.left() <= 0:
            self.skipped.append(f"{name}: budget of {self.budget_s:.0f} s spent")
            return None
        before = machine()
        t0 = time.perf_counter()
        value = fn()
        row = {"stage": name, "s": round(time.perf_counter() - t0, 1), "load_before": before["loadavg"],
               "load_after": machine()["loadavg"], **info}
        if isinstance(value, dict) and "timings_ms" in value:
            row["engine_timings_ms"] = {k: round(v) for k, v in value["timings_ms"].items()}
        self.stages.append(row)
        print(json.dumps(row), flush=True)
        return value


def fill_atlas(data_dir: Path, clip_dir: str, n: int, dim: int) -> None:
    """`n` random unit points with varied captions and a small JPEG each, provenance recorded."""
    from PIL import Image

    from engine.config import EngineSettings
    from engine.store.base import AtlasPayload, AtlasRecord, as_unit_rows
    from engine.store.factory import open_store
    from engine.store.provenance import AtlasProvenance, record_provenance

    settings = EngineSettings(_env_file=None, data_dir=data_dir, clip_model=clip_dir)
    store = open_store(settings, dim)
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 120, 120)).save(buf, "JPEG")
    jpeg = base64.b64encode(buf.getvalue()).decode()
    words = ["lesion", "mass", "nodule", "effusion", "fracture", "aneurysm", "cyst", "stenosis"]
    vectors = as_unit_rows(rng.standard_normal((n, dim)))
    store.upsert([AtlasRecord(vectors[i], AtlasPayload(
        atlas_id=f"ROCO_{i:05d}", caption=f"{MODALITIES[i % 6]} image {i} showing a {words[i % 8]} in region {i % 13}.",
        pmc_id=f"PMC{100000 + i}", licence="CC BY", split="train", modality=MODALITIES[i % 6],
        image_jpeg_b64=jpeg)) for i in range(n)])
    store.optimize()
    record_provenance(store, AtlasProvenance.of(clip_dir, dim))
    store.close()


class Engine:
    """`python -m engine serve` on a free port with MIRAGE_* settings; stopped on exit."""

    def __init__(self, data_dir: Path, env: dict[str, str], log: Path) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("MIRAGE_")}
        full_env |= {"MIRAGE_DATA_DIR": str(data_dir), "MIRAGE_DEVICE": "cpu", "HF_HUB_OFFLINE": "1",
                     "MIRAGE_REQUEST_TIMEOUT_S": "1200", "PYTHONPATH": str(REPO), **env}
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", str(self.port)],
                                            cwd=REPO, env=full_env, stdout=out, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.url, timeout=1200)

    def wait_ready(self, limit_s: float) -> dict:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("engine exited: " + self.log.read_text()[-3000:])
            try:
                r = self.client.get("/readyz", timeout=5)
                if r.status_code == 200:
                    return r.json()
            except httpx.TransportError:
                pass
            time.sleep(1)
        raise RuntimeError("engine not ready in time: " + self.log.read_text()[-3000:])

    def post(self, path: str, model, **kwargs) -> dict:
        r = self.client.post(path, **kwargs)
        assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:500]}"
        body = r.json()
        model.model_validate(body)  # the contract, field by field
        assert body.get("disclaimer") == c.DISCLAIMER, body.get("disclaimer")
        return body

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def rss_mb(pid: int) -> int:
    """Resident memory of a process, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


def jpeg_upload(side: int) -> bytes:
    """A JPEG of `side` pixels for the image search upload."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (side, side, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def png_side(b64: str) -> tuple[int, int]:
    """The size of a base64 PNG."""
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    assert image.format == "PNG"
    return image.size


def llm_phase(run: Run, engine: Engine, k: int, upload_side: int) -> None:
    """Search with enrichment, compare, image search, ask and quiz over HTTP, checked against the contract."""
    def search() -> dict:
        body = engine.post("/v1/search", c.SearchResponse, json={"query": gb.PROMPT, "k": k, "seed": 1})
        ids = [h["id"] for h in body["hits"]]
        assert len(ids) == k and set(body["context_ids"]) <= set(ids), body
        assert body["enriched"] is not None or body["notes"], "neither an explanation nor a note"
        image = engine.client.get(body["hits"][0]["image_url"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        return body

    found = run.stage("search (enriched)", search)
    run.stage("compare", lambda: _check_compare(engine.post("/v1/compare", c.CompareResponse, json={
        "query": gb.PROMPT, "subtract": "pneumonia", "add": "pleural effusion", "k": k}), k))
    run.stage(f"image search ({upload_side} px upload)", lambda: _check_hits(engine.post(
        "/v1/search/image", c.ImageSearchResponse, files={"image": ("x.jpg", jpeg_upload(upload_side), "image/jpeg")},
        data={"k": str(k)}), k))
    context = (found or {}).get("context_ids") or ["ROCO_00000", "ROCO_00001", "ROCO_00002"]

    def ask() -> dict:
        body = engine.post("/v1/ask", c.AskResponse, json={"question": "What does the lesion suggest?",
                                                          "context_ids": context, "seed": 2})
        assert [s["id"] for s in body["sources"]] == context
        assert all(1 <= ct["n"] <= len(context) for ct in body["citations"]) and body["answer"]
        return body

    run.stage("ask", ask)

    def quiz() -> dict:
        body = engine.post("/v1/quiz", c.QuizResponse, json={"seed": 3, "choices": 4})
        assert len(body["choices"]) == 4 and engine.client.get(body["image_url"]).status_code == 200
        return body

    run.stage("quiz", quiz)


def _check_hits(body: dict, k: int) -> dict:
    assert len(body["hits"]) == k, body
    return body


def _check_compare(body: dict, k: int) -> dict:
    assert len(body["original"]["hits"]) == k and len(body["modified"]["hits"]) == k, body
    return body


def diffusion_phase(run: Run, engine: Engine, fast_steps: int, steps: int, side: int) -> None:
    """Generate in LCM fast mode and in full mode over HTTP: a 512x512 PNG, synthetic, with its nearest real image."""
    def generate(fast: bool, n: int) -> dict:
        request = {"prompt": gb.PROMPT, "seed": 4, "steps": n, "fast": fast}
        body = engine.post("/v1/generate", c.GenerateResponse, json=request)
        assert body["synthetic"] is True and body["fast"] is fast and body["steps"] == n, body["steps"]
        assert png_side(body["image_png_b64"]) == (side, side) and body["nearest"] is not None
        return body

    run.stage(f"generate fast (LCM-LoRA, {fast_steps} steps)", lambda: generate(True, fast_steps))
    run.stage(f"generate full (PNDM, {steps} steps, guidance 7.5)", lambda: generate(False, steps))


def run_full_cpu(out: Path, cache: Path, budget_s: float, new_tokens: int, steps: int, shapes: str = "full") -> int:
    """Steps 1-4; writes `out` (JSON) and the markdown beside it. 0 when every stage passed."""
    import tempfile

    import full_models

    run = Run(budget_s)
    report: dict = {"scale": shapes, "device": "cpu", "start": machine(), "budget_s": budget_s,
                    "new_tokens": new_tokens, "steps": steps}
    print(f"gpu_bench --device cpu --full: {report['start']}", flush=True)
    for role in full_models.ROLES:  # 1. one process per role
        run.stage(f"build {role} (random weights, saved)", lambda r=role: subprocess.run(
            [sys.executable, str(Path(full_models.__file__)), r, str(cache), shapes], check=True))
    built = report["built"] = {r: json.loads((cache / r / full_models.BUILT).read_text()) for r in full_models.ROLES}
    env = {"MIRAGE_CLIP_MODEL": str(cache / "clip"), "MIRAGE_LLM_MODEL": str(cache / "llm"),
           "MIRAGE_DIFFUSION_MODEL": str(cache / "diffusion"), "MIRAGE_LCM_LORA": str(cache / "lcm-lora"),
           "MIRAGE_LLM_MAX_NEW_TOKENS": str(new_tokens), "MIRAGE_DIFFUSION_STEPS": str(steps),
           "MIRAGE_FAST_STEPS": "2", "MIRAGE_GPU_WORKERS": "1"}
    with tempfile.TemporaryDirectory(prefix="mirage-full-") as tmp:
        data = Path(tmp) / "data"
        run.stage("atlas: 2,000 random points, indexed", lambda: fill_atlas(data, str(cache / "clip"), 2000, built["clip"]["dim"]))
        report["rss_mb"] = {}
        for phase, extra, body in (
            ("llm", {"MIRAGE_ENABLE_DIFFUSION": "false"}, lambda e: llm_phase(run, e, 4, built["clip"]["image_size"])),
            ("diffusion", {"MIRAGE_ENABLE_LLM": "false"}, lambda e: diffusion_phase(run, e, 2, steps, built["diffusion"]["side"])),
        ):
            engine = Engine(data, env | extra, Path(tmp) / f"engine-{phase}.log")
            try:
                ready = run.stage(f"engine start to ready ({phase} phase: CLIP + {phase})",
                                  lambda e=engine: e.wait_ready(max(run.left(), 60)))
                if ready is not None:
                    report[f"ready_{phase}"] = ready
                    body(engine)
                    report["rss_mb"][phase] = rss_mb(engine.process.pid)
            finally:
                engine.stop()
                report[f"log_{phase}"] = engine.log.read_text()[-1500:]
    report |= {"stages": run.stages, "skipped": run.skipped, "end": machine(),
               "elapsed_s": round(time.perf_counter() - run.t0, 1)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0 if not run.skipped else 1


def markdown(report: dict) -> str:
    """The stage table for bench/README.md."""
    lines = [f"# gpu_bench --device cpu --full: {report['elapsed_s']} s of a {report['budget_s']:.0f} s budget", "",
             f"Start: {report['start']}; end: {report['end']}; engine RSS after each phase (MB): {report['rss_mb']}", "",
             "| stage | CPU s | load before / after | engine timings ms |", "| --- | ---: | --- | --- |"]
    for row in report["stages"]:
        timings = ", ".join(f"{k} {v}" for k, v in row.get("engine_timings_ms", {}).items())
        lines.append(f"| {row['stage']} | {row['s']} | {row['load_before'][0]} / {row['load_after'][0]} | {timings} |")
    lines += [f"skipped: {s}" for s in report["skipped"]]
    return "\n".join(lines) + "\n"
