"""Dynamic batching on and off: the same engine, under 1, 4, 16 and 32 concurrent clients.

Builds models of a realistic shape with random weights (nothing is downloaded; cached under
`--cache`): a GPT-NeoX of ~115M parameters, a ViT-B/16-sized open_clip CLIP, and a small SD UNet
with an LCM-LoRA; `--full` uses the real shapes instead (CLIP ViT-L/14 at 448 px, Dolly-v2-3b's
GPT-NeoX, the SD 1.5 UNet at 512 px; meant for `--device cuda`). Serves the real engine app
(`engine.api.app.create_app`) on two loopback ports side by side, on the same loaded models:

- off: MIRAGE_BATCH_MAX=1 (so one pipeline worker, every model call alone: the unbatched engine),
- on:  MIRAGE_BATCH_MAX=16 (sixteen pipeline workers; calls within the window share a forward pass),

and sends enriched searches (CLIP → atlas → LLM → CLIP → atlas) and fast generations (LCM, 4 steps,
then CLIP on the image → atlas) from N concurrent clients, each sending requests back to back; each
level runs off, then on, so a drift in the machine's speed falls on both alike.
Reports throughput (requests/s) and p50/p99 latency per level, and on/off ratios; first, each model
stage alone: 16 calls one by one against one batch of 16 (the most batching can gain for it here).

    .venv/bin/python bench/batching.py --out bench/results/batching      # the CPU run in bench/README.md
    .venv/bin/python bench/batching.py --device cuda --full --out bench/results/batching_gpu
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script: make `engine` importable
    sys.path.insert(0, str(REPO_ROOT))

log = logging.getLogger("batching_bench")

# --- shapes -----------------------------------------------------------------------------------
CLIP_CPU = {  # open_clip ViT-B-16
    "embed_dim": 512,
    "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12},
}
CLIP_FULL = {  # ViT-L-14 at 448 px, as the MedICaT-ROCO checkpoint
    "embed_dim": 768,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 448, "layers": 24, "width": 1024, "patch_size": 14},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 768, "heads": 12, "layers": 12},
}
LLM_CPU = {  # GPT-NeoX, ~115M parameters with the demo tokenizer's vocabulary
    "hidden_size": 896, "num_hidden_layers": 12, "num_attention_heads": 14, "intermediate_size": 3584,
    "max_position_embeddings": 2048, "rotary_pct": 0.25,
}
LLM_FULL = {  # databricks/dolly-v2-3b
    "hidden_size": 2560, "num_hidden_layers": 32, "num_attention_heads": 32, "intermediate_size": 10240,
    "max_position_embeddings": 2048, "rotary_pct": 0.25,
}
DIFFUSION_CPU = {
    "text": {"hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 4,
             "max_position_embeddings": 77, "projection_dim": 256},
    "unet": {"sample_size": 32, "block_out_channels": (64, 128, 256), "layers_per_block": 1,
             "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
             "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
             "cross_attention_dim": 256, "attention_head_dim": 8, "norm_num_groups": 32},
    "vae": {"block_out_channels": (64, 128), "down_block_types": ("DownEncoderBlock2D",) * 2,
            "up_block_types": ("UpDecoderBlock2D",) * 2, "latent_channels": 4, "norm_num_groups": 32,
            "sample_size": 64},
}
DIFFUSION_FULL = {  # SD 1.5
    "text": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
             "max_position_embeddings": 77, "projection_dim": 768},
    "unet": {"sample_size": 64, "block_out_channels": (320, 640, 1280, 1280), "layers_per_block": 2,
             "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
             "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
             "cross_attention_dim": 768, "attention_head_dim": 8, "norm_num_groups": 32},
    "vae": {"block_out_channels": (128, 256, 512, 512), "down_block_types": ("DownEncoderBlock2D",) * 4,
            "up_block_types": ("UpDecoderBlock2D",) * 4, "latent_channels": 4, "norm_num_groups": 32,
            "sample_size": 512},
}
ATLAS_SIZE = 48
QUERIES = ["bright round lesion", "dark wedge-shaped region", "small spot near the centre", "ring lesion on CT",
           "opacity in the lower lobe", "fluid around the lung", "fracture line", "enlarged heart shadow"]


# --- models -----------------------------------------------------------------------------------
def build_models(cache: Path, full: bool) -> dict[str, str]:
    """Local model directories (built once, cached): clip, llm, diffusion, lcm_lora."""
    from engine.tiny.build import ensure_tiny_models

    root = cache / ("full" if full else "cpu")
    tiny = ensure_tiny_models(cache / "tiny-models", cache / "demo-roco")
    paths = {role: str(root / role) for role in ("clip", "llm", "diffusion", "lcm_lora")}
    if not (root / "COMPLETE").exists():
        log.info("building %s-shape models with random weights in %s (once)", "full" if full else "CPU", root)
        _build_clip(Path(paths["clip"]), CLIP_FULL if full else CLIP_CPU)
        _build_llm(Path(paths["llm"]), Path(tiny.llm), LLM_FULL if full else LLM_CPU)
        _build_diffusion(Path(paths["diffusion"]), Path(paths["lcm_lora"]), DIFFUSION_FULL if full else DIFFUSION_CPU)
        (root / "COMPLETE").write_text("ok")
    return paths


def _build_clip(out: Path, cfg: dict) -> None:
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.model.CLIP(**cfg)
    out.mkdir(parents=True, exist_ok=True)
    (out / "open_clip_config.json").write_text(json.dumps({
        "model_cfg": cfg, "preprocess_cfg": {"mean": [0.48, 0.46, 0.41], "std": [0.27, 0.26, 0.28]},
    }))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "open_clip_model.safetensors"))


def _build_llm(out: Path, tiny_llm: Path, cfg: dict) -> None:
    import torch
    from transformers import AutoTokenizer, GPTNeoXConfig, GPTNeoXForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)  # the demo captions' BPE, with Dolly's markers
    torch.manual_seed(0)
    model = GPTNeoXForCausalLM(GPTNeoXConfig(
        vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False, **cfg,
    ))
    log.info("LLM: %.0fM parameters", sum(p.numel() for p in model.parameters()) / 1e6)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _build_diffusion(pipe_dir: Path, lora_dir: Path, cfg: dict) -> None:
    from engine.tiny import diffusion as tiny_diffusion

    # the tiny builder with these shapes (same tokenizer, scheduler and LoRA recipe)
    saved = (tiny_diffusion.TEXT_CFG, tiny_diffusion.UNET_CFG, tiny_diffusion.VAE_CFG)
    tiny_diffusion.TEXT_CFG, tiny_diffusion.UNET_CFG, tiny_diffusion.VAE_CFG = cfg["text"], cfg["unet"], cfg["vae"]
    try:
        tiny_diffusion.build_tiny_diffusion(pipe_dir, lora_dir)
    finally:
        tiny_diffusion.TEXT_CFG, tiny_diffusion.UNET_CFG, tiny_diffusion.VAE_CFG = saved


# --- the engine -------------------------------------------------------------------------------
@dataclass
class Loaded:
    clip: Any
    llm: Any
    diffusion: Any
    captions: list[tuple[str, str]]


def load_models(paths: dict[str, str], device: str, cache: Path) -> Loaded:
    """Load once through the engine's loaders; both modes wrap the same models."""
    from engine.models.clip import load_clip
    from engine.models.diffusion import load_diffusion
    from engine.models.llm import load_llm
    from engine.tiny.demo_atlas import demo_pairs

    clip = load_clip(paths["clip"], device=device)
    llm = load_llm(paths["llm"], device=device, load_8bit="off")
    diffusion = load_diffusion(paths["diffusion"], device=device, lcm_lora=paths["lcm_lora"])
    captions = [(roco_id, caption) for roco_id, caption, _ in demo_pairs(cache / "demo-roco")[:ATLAS_SIZE]]
    return Loaded(clip, llm, diffusion, captions)


def make_app(models: Loaded, data_dir: Path, *, batch_max: int, window_ms: float, tokens: int):
    """The engine app on these models, batching with at most `batch_max` calls per forward pass."""
    from engine.api.app import create_app
    from engine.batching.models import batched
    from engine.config import EngineSettings
    from engine.runtime import EngineRuntime
    from engine.store.base import AtlasPayload, AtlasRecord
    from engine.store.factory import open_store

    settings = EngineSettings(
        _env_file=None, data_dir=data_dir, engine_token=None, batch_max=batch_max, batch_window_ms=window_ms,
        queue_size=256, request_timeout_s=3600, llm_max_new_tokens=tokens, fast_steps=4, fast_guidance=1.5,
    )
    wrapped = {
        role: batched(role, model, window_ms=window_ms, max_size=batch_max)
        for role, model in (("clip", models.clip), ("llm", models.llm), ("diffusion", models.diffusion))
    }
    store = open_store(settings, models.clip.dim)
    if store.count() == 0:  # encoded through the wrapper: on the compute lane, like every model call
        vectors = wrapped["clip"].encode_text([caption for _, caption in models.captions])
        store.upsert([
            AtlasRecord(v, AtlasPayload(atlas_id=i, caption=c, modality="ct", pmc_id=f"PMC{n}", licence="CC BY"))
            for n, ((i, c), v) in enumerate(zip(models.captions, vectors, strict=True))
        ])
    runtime = EngineRuntime.from_components(settings, store=store, **wrapped)
    return create_app(runtime), runtime, wrapped


# --- load -------------------------------------------------------------------------------------
def body(kind: str, n: int) -> tuple[str, dict]:
    if kind == "search":
        return "/v1/search", {"query": QUERIES[n % len(QUERIES)], "k": 4, "seed": n}
    return "/v1/generate", {"prompt": f"axial CT, {QUERIES[n % len(QUERIES)]}", "seed": n, "fast": True}


async def run_level(url: str, kind: str, concurrency: int, requests: int) -> dict:
    """`concurrency` clients sending `requests` in all, back to back; throughput and latency."""
    import httpx

    latencies: list[float] = []
    counter = iter(range(requests))

    async def client(http: httpx.AsyncClient) -> None:
        for n in counter:
            path, payload = body(kind, n)
            started = time.perf_counter()
            response = await http.post(path, json=payload)
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)

    async with httpx.AsyncClient(base_url=url, timeout=3600, limits=httpx.Limits(max_connections=64)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    latencies.sort()
    return {
        "kind": kind, "concurrency": concurrency, "requests": requests, "wall_s": round(wall, 2),
        "throughput_rps": round(requests / wall, 3),
        "p50_s": round(statistics.median(latencies), 3),
        "p99_s": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 3),
    }


def requests_for(concurrency: int, minimum: int) -> int:
    return max(concurrency, minimum)


def bench_modes(models: Loaded, data_dir: Path, args: argparse.Namespace) -> list[dict]:
    """Both engines served at once on the same models; each level runs off, then on, so that a drift
    of the machine's speed during the run falls on both alike."""
    modes = {"off": 1, "on": args.batch_max}
    apps = {
        name: make_app(models, data_dir / name, batch_max=size, window_ms=args.window_ms, tokens=args.tokens)
        for name, size in modes.items()
    }
    rows = []
    from tests.engine.api.helpers import serving

    with serving(apps["off"][0]) as off_url, serving(apps["on"][0]) as on_url:
        urls = {"off": off_url, "on": on_url}
        for kind in args.kinds:
            for url in urls.values():
                asyncio.run(run_level(url, kind, 1, 1))  # warm-up
            for concurrency in args.levels:
                for name, url in urls.items():
                    wrapped = apps[name][2]
                    for model in wrapped.values():
                        for batcher in model.batchers:
                            batcher.sizes.clear()
                            batcher.joined = 0
                    row = asyncio.run(run_level(url, kind, concurrency, requests_for(concurrency, args.min_requests)))
                    row["batch_max"] = modes[name]
                    row["mean_batch"] = {
                        b.role: round(sum(s * n for s, n in b.sizes.items()) / max(1, sum(b.sizes.values())), 2)
                        for m in wrapped.values() for b in m.batchers if b.sizes
                    }
                    # LLM requests that joined a running generation between tokens (not in the batch sizes)
                    row["joined"] = {b.role: b.joined for m in wrapped.values() for b in m.batchers if b.joined}
                    log.info("%s", row)
                    rows.append(row)
    for _, runtime, wrapped in apps.values():
        runtime.close()
        for model in wrapped.values():
            model.close()
    return rows


def measure_ceiling(models: Loaded, size: int, tokens: int) -> list[dict]:
    """Each model stage alone, on the compute lane: `size` calls one after another against one batch of
    `size`. Their ratio bounds what any batching can gain for that stage on this machine."""
    from engine.pipelines.prompts import explain_instruction, render_prompt

    query = QUERIES[0]
    prompt = render_prompt(models.llm, explain_instruction(query, [c for _, c in models.captions[:4]]))
    image = models.diffusion.generate(f"axial CT, {query}", seed=0, steps=4, guidance=1.5, fast=True)

    def rows(n: int) -> list:
        return [models.llm.text_row(prompt, max_new_tokens=tokens, top_p=0.92, seed=s) for s in range(n)]

    def generate(n: int) -> None:
        models.diffusion.generate_batch([f"axial CT, {query}"] * n, seeds=list(range(n)), steps=4, guidance=1.5,
                                        fast=True)

    stages = {  # stage -> (one call, a batch of `size`)
        "clip_text (query)": (lambda: models.clip.encode_text([query]),
                              lambda: models.clip.encode_text([query] * size)),
        "llm (prompt + new tokens)": (lambda: models.llm.generate_rows(rows(1)),
                                      lambda: models.llm.generate_rows(rows(size))),
        "diffusion (LCM, 4 steps)": (lambda: generate(1), lambda: generate(size)),
        "clip_image": (lambda: models.clip.encode_images([image]), lambda: models.clip.encode_images([image] * size)),
    }
    out = []
    for stage, (one, batch) in stages.items():
        one(), batch()  # warm-up
        started = time.perf_counter()
        for _ in range(size):
            one()
        alone = time.perf_counter() - started
        started = time.perf_counter()
        batch()
        together = time.perf_counter() - started
        out.append({"stage": stage, "size": size, "alone_s": round(alone, 3), "batch_s": round(together, 3),
                    "gain": round(alone / together, 2)})
        log.info("ceiling %s", out[-1])
    return out


def ceiling_report(ceiling: list[dict]) -> str:
    size = ceiling[0]["size"]
    lines = ["", f"Each stage alone: {size} calls one by one against one batch of {size} (the most batching "
             "can gain for it here):", "", f"| stage | {size} alone s | batch of {size} s | gain |",
             "| --- | ---: | ---: | ---: |"]
    lines += [f"| {c['stage']} | {c['alone_s']} | {c['batch_s']} | {c['gain']} |" for c in ceiling]
    return "\n".join(lines) + "\n"


def report(rows: list[dict], meta: dict) -> str:
    lines = [f"# Batching on/off ({meta['device']}, {meta['shapes']} shapes)", "", f"`{meta['command']}`", "",
             f"load average at start {meta['loadavg_start']}, at end {meta['loadavg_end']}; "
             f"torch threads {meta['torch_threads']}; {meta['tokens']} new tokens per search", "",
             "| kind | clients | off rps | on rps | × | off p50 s | on p50 s | off p99 s | on p99 s | mean batch (on) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for on in (r for r in rows if r["batch_max"] > 1):
        off = next(r for r in rows if r["batch_max"] == 1 and r["kind"] == on["kind"]
                   and r["concurrency"] == on["concurrency"])
        ratio = on["throughput_rps"] / off["throughput_rps"]
        batches = ", ".join(f"{k} {v}" for k, v in on["mean_batch"].items())
        batches += "".join(f"; {k} +{n} joined" for k, n in on.get("joined", {}).items())
        lines.append(f"| {on['kind']} | {on['concurrency']} | {off['throughput_rps']} | {on['throughput_rps']} | "
                     f"{ratio:.2f} | {off['p50_s']} | {on['p50_s']} | {off['p99_s']} | {on['p99_s']} | {batches} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--full", action="store_true", help="real model shapes (for a GPU)")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4, 16, 32])
    parser.add_argument("--kinds", nargs="+", default=["search", "generate"], choices=["search", "generate"])
    parser.add_argument("--min-requests", type=int, default=12,
                        help="requests per level at least (a steady p50 at 1 client)")
    parser.add_argument("--tokens", type=int, default=32, help="LLM new tokens per search (the reference: 100)")
    parser.add_argument("--batch-max", type=int, default=16)
    parser.add_argument("--window-ms", type=float, default=10.0)
    parser.add_argument("--no-ceiling", dest="ceiling", action="store_false",
                        help="skip timing each stage alone at batch 1 and batch --batch-max")
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / ".cache" / "bench-batching")
    parser.add_argument("--out", type=Path, help="write <out>.json and <out>.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    import tempfile

    import torch

    # built and loaded on a thread that then ends, as the engine's loader does: its OpenMP team ends
    # with it (a team left on the main thread would slow every kernel on the lane; engine/batching/lane.py)
    with ThreadPoolExecutor(1) as loader:
        models = loader.submit(lambda: load_models(build_models(args.cache, args.full), args.device, args.cache)).result()
    meta = {
        "command": " ".join([".venv/bin/python", *sys.argv]), "device": args.device,
        "shapes": "full" if args.full else "CPU", "tokens": args.tokens, "torch_threads": torch.get_num_threads(),
        "loadavg_start": [round(x, 1) for x in os.getloadavg()], "platform": platform.platform(),
    }
    from engine.batching.lane import cpu_lane

    ceiling = cpu_lane().run(measure_ceiling, models, args.batch_max, args.tokens) if args.ceiling else []
    with tempfile.TemporaryDirectory() as tmp:
        rows = bench_modes(models, Path(tmp), args)
    meta["loadavg_end"] = [round(x, 1) for x in os.getloadavg()]
    text = report(rows, meta) + (ceiling_report(ceiling) if ceiling else "")
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows, "ceiling": ceiling}, indent=2))
        args.out.with_suffix(".md").write_text(text)


if __name__ == "__main__":
    main()
