"""Time every MIRAGE stage at full model size, with random weights (no downloads).

Builds the real architectures — open_clip ViT-L/14 at 448 px with its text tower, a GPT-NeoX with
Dolly-v2-3b's config, an SD 1.x UNet + VAE + CLIP text encoder at 512×512 — and times them on CUDA:
CLIP encoding throughput by batch size, 100 forced new tokens of the LLM in bf16 and 8-bit, diffusion
at 25/50 steps in fp16 and the 4-step LCM fast mode, and each /mirage command end to end through the
engine's pipelines. Levers are timed with and without: batching concurrent CLIP requests,
torch.compile, SDPA vs eager attention, channels_last, 8-bit without outlier decomposition.

Each figure is the median of several runs after warm-up. A time budget (default 390 s, leaving room
for a stage that overruns its estimate) keeps the whole script under 8 minutes on one H100: a stage
whose estimate (seconds on an H100, in `full_scale`) does not fit what is left is skipped with a note.
The estimates are guesses until a first full run replaces them with measured figures.

    python bench/gpu_bench.py --out bench/results/gpu_bench.json
    python bench/gpu_bench.py --tiny --out /tmp/gpu_bench.json   # same code paths, tiny configs, CPU
    python bench/gpu_bench.py --device cpu --full                 # every pipeline at full shapes on the CPU,
                                                                  # through the real loaders and the HTTP app
                                                                  # (bench/full_cpu.py; budget 20 min)
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script: make `engine` importable
    sys.path.insert(0, str(REPO_ROOT))
if str(REPO_ROOT / "bench") not in sys.path:  # and the --full CPU run's modules beside this one
    sys.path.insert(0, str(REPO_ROOT / "bench"))

log = logging.getLogger("gpu_bench")

# ---------------------------------------------------------------------------------------------
# Architectures (configs written inline: nothing is downloaded)
# ---------------------------------------------------------------------------------------------

# open_clip ViT-L-14 (its built-in config) at 448 px, the MedICaT-ROCO checkpoint's resolution.
CLIP_FULL = {
    "embed_dim": 768,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 448, "layers": 24, "width": 1024, "patch_size": 14},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 768, "heads": 12, "layers": 12},
}
CLIP_TINY = {
    "embed_dim": 32,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}

# databricks/dolly-v2-3b config.json
DOLLY_FULL = {
    "hidden_size": 2560,
    "intermediate_size": 10240,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "vocab_size": 50280,
    "rotary_pct": 0.25,
    "rotary_emb_base": 10000,
    "max_position_embeddings": 2048,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
    "use_parallel_residual": True,
    "tie_word_embeddings": False,
    "bos_token_id": 0,
    "eos_token_id": 0,
}
DOLLY_TINY = {**DOLLY_FULL, "hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2,
              "num_attention_heads": 4}

# runwayml/stable-diffusion-v1-5: unet/config.json, vae/config.json, text_encoder/config.json,
# scheduler/scheduler_config.json (Prompt2MedImage is a fine-tune of this architecture).
SD_UNET_FULL = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": [320, 640, 1280, 1280],
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "act_fn": "silu",
}
SD_UNET_TINY = {**SD_UNET_FULL, "sample_size": 16, "layers_per_block": 1, "block_out_channels": [32, 64],
                "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
                "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"], "cross_attention_dim": 32}
SD_VAE_FULL = {
    "sample_size": 512,
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "norm_num_groups": 32,
    "act_fn": "silu",
}
SD_VAE_TINY = {**SD_VAE_FULL, "sample_size": 32, "layers_per_block": 1, "block_out_channels": [32, 64],
               "down_block_types": ["DownEncoderBlock2D"] * 2, "up_block_types": ["UpDecoderBlock2D"] * 2}
SD_TEXT_FULL = {  # openai/clip-vit-large-patch14's text tower
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
}
SD_TEXT_TINY = {**SD_TEXT_FULL, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                "num_attention_heads": 2, "projection_dim": 32}
SD_SCHEDULER = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "skip_prk_steps": True,
    "steps_offset": 1,
    "set_alpha_to_one": False,
}

PROMPT = "Chest X-ray showing a right lower lobe consolidation consistent with pneumonia"
CAPTIONS = [
    "Axial CT of the chest showing a cavitating lesion in the right upper lobe.",
    "Frontal chest radiograph with bilateral patchy opacities.",
    "MRI of the brain, T2-weighted, showing a hyperintense lesion in the left temporal lobe.",
]


@dataclass(frozen=True)
class Scale:
    """Sizes and repetitions of one run: full size on CUDA, or tiny on CPU for CI."""

    name: str
    device: str
    half: torch.dtype
    clip: dict
    llm: dict
    unet: dict
    vae: dict
    text: dict
    resolution: int
    clip_batches: tuple[int, ...]
    concurrent_requests: int
    prompt_tokens: int
    new_tokens: int
    diffusion_steps: tuple[int, ...]  # the first is also the one the levers are timed at
    fast_steps: int
    warmup: int
    repeats: int
    compile_backend: str
    atlas_points: int
    # seconds each stage is expected to take on one H100 (0 = always run)
    estimates_s: dict[str, float] = field(default_factory=dict)


def full_scale(device: str) -> Scale:
    """The real architectures at full size (needs CUDA)."""
    return Scale(
        name="full", device=device, half=torch.float16, clip=CLIP_FULL, llm=DOLLY_FULL, unet=SD_UNET_FULL,
        vae=SD_VAE_FULL, text=SD_TEXT_FULL, resolution=512, clip_batches=(1, 8, 32, 128),
        concurrent_requests=32, prompt_tokens=256, new_tokens=100, diffusion_steps=(25, 50), fast_steps=4,
        warmup=1, repeats=3, compile_backend="inductor", atlas_points=20_000,
        estimates_s={
            "clip": 25, "llm_bf16": 35, "llm_8bit": 90, "diffusion": 45, "diffusion_levers": 20,
            "end_to_end": 100, "clip_compile": 70, "diffusion_compile": 120,
        },
    )


def tiny_scale() -> Scale:
    """The same code paths with tiny configs on CPU, in seconds (for CI)."""
    return Scale(
        name="tiny", device="cpu", half=torch.float32, clip=CLIP_TINY, llm=DOLLY_TINY, unet=SD_UNET_TINY,
        vae=SD_VAE_TINY, text=SD_TEXT_TINY, resolution=32, clip_batches=(1, 4), concurrent_requests=4,
        prompt_tokens=16, new_tokens=8, diffusion_steps=(1, 2), fast_steps=1, warmup=0, repeats=1,
        compile_backend="eager", atlas_points=64,
    )


# ---------------------------------------------------------------------------------------------
# Timing, budget and results
# ---------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One measured figure: the median of `runs` (seconds per run) expressed in `unit`."""

    stage: str
    variant: str
    value: float
    unit: str
    runs_s: list[float]
    note: str = ""


@dataclass
class Report:
    """Everything the script writes to JSON."""

    scale: str
    device: str
    environment: dict[str, str]
    budget_s: float
    rows: list[Row] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0


class Bench:
    """Runs timed closures, keeps the results, and enforces the time budget."""

    def __init__(self, scale: Scale, budget_s: float) -> None:
        self.scale = scale
        self.start = time.perf_counter()
        self.budget_s = budget_s
        self.report = Report(scale=scale.name, device=describe_device(scale.device),
                             environment=environment(), budget_s=budget_s)

    def sync(self) -> None:
        """Wait for queued GPU work so wall time measures it."""
        if self.scale.device.startswith("cuda"):
            torch.cuda.synchronize()

    def time_runs(self, fn: Callable[[], Any], *, repeats: int | None = None, warmup: int | None = None) -> list[float]:
        """Seconds per call of `fn` over `repeats` runs after `warmup` untimed ones."""
        for _ in range(self.scale.warmup if warmup is None else warmup):
            fn()
        self.sync()
        runs = []
        for _ in range(self.scale.repeats if repeats is None else repeats):
            t0 = time.perf_counter()
            fn()
            self.sync()
            runs.append(time.perf_counter() - t0)
        return runs

    def add(self, stage: str, variant: str, runs_s: list[float], *, per: float = 1.0, unit: str = "s",
            note: str = "") -> Row:
        """Record the median of `runs_s`: seconds (unit "s"/"ms") or throughput `per` / seconds (unit "…/s")."""
        median = statistics.median(runs_s)
        if unit.endswith("/s"):
            value = per / median
        elif unit == "ms":
            value = median * 1000
        else:
            value = median
        row = Row(stage, variant, round(value, 4), unit, [round(r, 5) for r in runs_s], note)
        self.report.rows.append(row)
        log.info("%-22s %-40s %12.3f %s %s", stage, variant, row.value, unit, note)
        return row

    def remaining_s(self) -> float:
        """Budget left, in seconds."""
        return self.budget_s - (time.perf_counter() - self.start)

    def allows(self, stage: str) -> bool:
        """True when `stage`'s estimate fits the budget left; otherwise record the skip."""
        estimate = self.scale.estimates_s.get(stage, 0.0)
        if estimate <= self.remaining_s():
            return True
        self.skip(stage, f"estimated {estimate:.0f} s, {self.remaining_s():.0f} s of the budget left")
        return False

    def skip(self, stage: str, reason: str) -> None:
        """Record that a stage or variant did not run, and why."""
        self.report.skipped.append({"stage": stage, "reason": reason})
        log.warning("skipped %s: %s", stage, reason)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Run one stage; an error is recorded as a skip (the other stages still run) and memory is freed."""
        t0 = time.perf_counter()
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - a failing stage must not lose the others' figures
            log.exception("stage %s failed", name)
            self.skip(name, f"failed: {type(exc).__name__}: {exc}"[:500])
        finally:
            free_memory()
            log.info("stage %s took %.1f s", name, time.perf_counter() - t0)


def free_memory() -> None:
    """Release cached GPU memory between stages (a no-op without CUDA)."""
    if torch.cuda.is_available():
        gc.collect()
        torch.cuda.empty_cache()


def describe_device(device: str) -> str:
    """A human description of the device, e.g. 'NVIDIA H100 80GB HBM3'."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def environment() -> dict[str, str]:
    """Versions that change the figures."""
    import diffusers
    import open_clip
    import transformers

    env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": str(torch.version.cuda),
           "open_clip": open_clip.__version__, "transformers": transformers.__version__,
           "diffusers": diffusers.__version__}
    try:
        import bitsandbytes

        env["bitsandbytes"] = bitsandbytes.__version__
    except ImportError:
        env["bitsandbytes"] = "missing"
    return env


# ---------------------------------------------------------------------------------------------
# CLIP
# ---------------------------------------------------------------------------------------------


def build_clip(scale: Scale):
    """(open_clip CLIP in half precision on the device, its image transform, its tokenizer)."""
    import open_clip
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg

    cfg = scale.clip
    torch.manual_seed(0)
    with torch.device(scale.device):
        model = open_clip.CLIP(embed_dim=cfg["embed_dim"], vision_cfg=CLIPVisionCfg(**cfg["vision_cfg"]),
                               text_cfg=CLIPTextCfg(**cfg["text_cfg"]), quick_gelu=cfg["quick_gelu"])
    model = model.to(dtype=scale.half).eval()
    transform = open_clip.image_transform(cfg["vision_cfg"]["image_size"], is_train=False)
    return model, transform, open_clip.get_tokenizer("ViT-L-14")


def bench_clip(bench: Bench) -> None:
    """Image and text encoding throughput by batch size; CPU preprocessing; batching concurrent requests; channels_last."""
    scale = bench.scale
    if not bench.allows("clip"):
        return
    model, transform, tokenizer = build_clip(scale)
    size = scale.clip["vision_cfg"]["image_size"]
    texts = [CAPTIONS[i % len(CAPTIONS)] for i in range(max(scale.clip_batches))]

    def encode_images(batch: torch.Tensor) -> Callable[[], Any]:
        return lambda: _no_grad(model.encode_image, batch)

    for n in scale.clip_batches:
        pixels = torch.randn(n, 3, size, size, device=scale.device, dtype=scale.half)
        bench.add("clip_image", f"batch {n}", bench.time_runs(encode_images(pixels)), per=n, unit="images/s")
        tokens = tokenizer(texts[:n]).to(scale.device)
        bench.add("clip_text", f"batch {n}", bench.time_runs(lambda t=tokens: _no_grad(model.encode_text, t)),
                  per=n, unit="texts/s")

    # Preprocessing on the CPU (PIL resize/crop/normalise) is part of every image request.
    from PIL import Image

    pil = [Image.new("RGB", (512, 512), (i, 100, 200)) for i in range(8)]
    bench.add("clip_image", "preprocess 8 PIL images (CPU)",
              bench.time_runs(lambda: torch.stack([transform(p) for p in pil])), per=8, unit="images/s")

    # Concurrent single-image requests: one at a time vs gathered into one batch.
    n = scale.concurrent_requests
    singles = [torch.randn(1, 3, size, size, device=scale.device, dtype=scale.half) for _ in range(n)]
    one_by_one = bench.time_runs(lambda: [_no_grad(model.encode_image, s) for s in singles])
    batched = bench.time_runs(lambda: _no_grad(model.encode_image, torch.cat(singles)))
    bench.add("clip_batching", f"{n} requests one by one", one_by_one, unit="ms")
    bench.add("clip_batching", f"{n} requests as one batch", batched, unit="ms",
              note=f"{statistics.median(one_by_one) / statistics.median(batched):.1f}x faster")

    # channels_last only touches the patch-embedding convolution of a ViT.
    batch_n = scale.clip_batches[-2] if len(scale.clip_batches) > 1 else scale.clip_batches[0]
    pixels = torch.randn(batch_n, 3, size, size, device=scale.device, dtype=scale.half)
    model.visual.to(memory_format=torch.channels_last)
    bench.add("clip_image", f"batch {batch_n}, channels_last", bench.time_runs(
        encode_images(pixels.contiguous(memory_format=torch.channels_last))), per=batch_n, unit="images/s")
    model.visual.to(memory_format=torch.contiguous_format)


def _no_grad(fn: Callable[..., Any], *args: Any) -> Any:
    with torch.inference_mode():
        return fn(*args)


# ---------------------------------------------------------------------------------------------
# LLM (GPT-NeoX, Dolly-v2-3b's shape)
# ---------------------------------------------------------------------------------------------


def build_llm(scale: Scale, *, dtype: torch.dtype, attn: str):
    """A random-weight GPT-NeoX causal LM of Dolly's config on the device; eos disabled (forced length)."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    config = GPTNeoXConfig(**scale.llm)
    config._attn_implementation = attn
    torch.manual_seed(0)
    with torch.device(scale.device):
        model = GPTNeoXForCausalLM(config).to(dtype).eval()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    return model


def quantize_8bit(model, *, threshold: float):
    """Swap every Linear but the output head for bitsandbytes' LLM.int8() layer, as load_in_8bit does."""
    import bitsandbytes as bnb

    device = next(model.parameters()).device
    head = model.get_output_embeddings()  # transformers keeps the LM head in 16 bit too
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if not isinstance(child, torch.nn.Linear) or child is head:
                continue
            with torch.device("meta"):  # no throw-away random init of 2.6B parameters on the CPU
                layer = bnb.nn.Linear8bitLt(child.in_features, child.out_features, bias=child.bias is not None,
                                            has_fp16_weights=False, threshold=threshold)
            layer.weight = bnb.nn.Int8Params(child.weight.data.to("cpu", torch.float16), requires_grad=False,
                                             has_fp16_weights=False)
            if child.bias is not None:
                layer.bias = torch.nn.Parameter(child.bias.data.to("cpu", torch.float16), requires_grad=False)
            setattr(module, child_name, layer.to(device))  # moving to the device quantizes
    return model  # built in fp16 already: a later .to(dtype) would cast the int8 weights back


def time_generation(bench: Bench, model, variant: str, note: str = "") -> None:
    """Median seconds for `new_tokens` sampled tokens (top_p 0.92) after a `prompt_tokens` prompt."""
    scale = bench.scale
    generator = torch.Generator(device="cpu").manual_seed(0)
    ids = torch.randint(100, scale.llm["vocab_size"], (1, scale.prompt_tokens), generator=generator)
    ids = ids.to(scale.device)
    mask = torch.ones_like(ids)
    produced: list[int] = []

    def generate() -> None:
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=mask, do_sample=True, top_p=0.92, top_k=0,
                                 max_new_tokens=scale.new_tokens, min_new_tokens=scale.new_tokens)
        produced.append(out.shape[1] - ids.shape[1])

    runs = bench.time_runs(generate)
    if set(produced) != {scale.new_tokens}:
        raise RuntimeError(f"expected exactly {scale.new_tokens} new tokens, got {sorted(set(produced))}")
    bench.add("llm", f"{variant}: {scale.new_tokens} tokens", runs, unit="s", note=note)
    bench.add("llm", f"{variant}: throughput", runs, per=scale.new_tokens, unit="tokens/s")


def bench_llm(bench: Bench) -> None:
    """100 forced new tokens in bf16 (SDPA and eager attention) and in 8-bit (LLM.int8 with and without outliers)."""
    scale = bench.scale
    bf16 = torch.bfloat16
    if bench.allows("llm_bf16"):
        for attn in ("sdpa", "eager"):
            with bench.stage(f"llm bf16 {attn}"):
                time_generation(bench, build_llm(scale, dtype=bf16, attn=attn), f"bf16, {attn} attention")
    if not bench.allows("llm_8bit"):
        return
    for threshold, label in ((6.0, "8-bit (LLM.int8, outlier threshold 6)"),
                             (0.0, "8-bit (threshold 0: pure int8 matmul, no fp16 outlier path)")):
        with bench.stage(f"llm {label}"):
            model = quantize_8bit(build_llm(scale, dtype=torch.float16, attn="sdpa"), threshold=threshold)
            note = "the engine's default (load_in_8bit)" if threshold else "llm_int8_threshold=0"
            time_generation(bench, model, label, note=note)


# ---------------------------------------------------------------------------------------------
# Diffusion (SD 1.x)
# ---------------------------------------------------------------------------------------------


def clip_bpe_tokenizer():
    """SD's CLIPTokenizer with the real 49,408-token BPE, taken from the vocabulary open_clip ships."""
    from open_clip.tokenizer import SimpleTokenizer
    from transformers import CLIPTokenizer

    simple = SimpleTokenizer()
    rename = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {rename.get(k, k): v for k, v in simple.encoder.items()}
    merges = sorted(simple.bpe_ranks, key=simple.bpe_ranks.get)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def build_diffusion(scale: Scale):
    """A random-weight StableDiffusionPipeline (PNDM, SD1.5's default scheduler) in half precision."""
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    with torch.device(scale.device):
        unet = UNet2DConditionModel(**scale.unet)
        vae = AutoencoderKL(**scale.vae)
        text_encoder = CLIPTextModel(CLIPTextConfig(**scale.text))
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=clip_bpe_tokenizer(), unet=unet,
        scheduler=PNDMScheduler(**SD_SCHEDULER), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(scale.device, scale.half)


def time_image(bench: Bench, pipe, variant: str, *, steps: int, guidance: float, note: str = "") -> None:
    """Median seconds for one 512×512 (full scale) image."""
    res = bench.scale.resolution

    def run() -> None:
        generator = torch.Generator(device="cpu").manual_seed(0)
        pipe(PROMPT, num_inference_steps=steps, guidance_scale=guidance, height=res, width=res,
             generator=generator, output_type="pil")

    runs = bench.time_runs(run)
    bench.add("diffusion", variant, runs, unit="s", note=note or f"{steps / statistics.median(runs):.1f} steps/s")


def bench_diffusion(bench: Bench) -> None:
    """25/50 steps fp16 (PNDM), the 4-step LCM fast mode; eager attention and channels_last vs SDPA."""
    from diffusers import LCMScheduler, PNDMScheduler
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    scale = bench.scale
    precision = str(scale.half).removeprefix("torch.")
    pipe = build_diffusion(scale)
    base_steps = scale.diffusion_steps[0]
    if bench.allows("diffusion"):
        for steps in scale.diffusion_steps:
            time_image(bench, pipe, f"{steps} steps {precision}, guidance 7.5", steps=steps, guidance=7.5)
        pipe.scheduler = LCMScheduler.from_config(pipe.scheduler.config)
        time_image(bench, pipe, f"fast: LCM {scale.fast_steps} steps, guidance 1.5", steps=scale.fast_steps,
                   guidance=1.5, note="scheduler only: a fused LCM-LoRA costs nothing; the engine's unfused one is in end_to_end")
        pipe.scheduler = PNDMScheduler(**SD_SCHEDULER)
    if bench.allows("diffusion_levers"):
        pipe.unet.set_attn_processor(AttnProcessor())
        pipe.vae.set_attn_processor(AttnProcessor())
        time_image(bench, pipe, f"{base_steps} steps, eager attention", steps=base_steps, guidance=7.5)
        pipe.unet.set_attn_processor(AttnProcessor2_0())
        pipe.vae.set_attn_processor(AttnProcessor2_0())
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
        time_image(bench, pipe, f"{base_steps} steps, channels_last", steps=base_steps, guidance=7.5)


# ---------------------------------------------------------------------------------------------
# End to end: each /mirage command through the engine's pipelines
# ---------------------------------------------------------------------------------------------


# The modules lcm-lora-sdv1-5 adapts (rank 64): attention, feed-forward and ResNet convolutions.
LCM_LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2",
                    "conv1", "conv2", "conv_shortcut", "downsamplers.0.conv", "upsamplers.0.conv", "time_emb_proj"]


def save_random_lcm_lora(pipe, directory: Path, rank: int) -> Path:
    """A random-weight LoRA of LCM-LoRA's shape, saved where `load_lora_weights` can read it."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe.unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=LCM_LORA_TARGETS,
                                     init_lora_weights="gaussian"), adapter_name="random_lcm")
    layers = get_peft_model_state_dict(pipe.unet, adapter_name="random_lcm")
    type(pipe).save_lora_weights(directory, unet_lora_layers=layers, safe_serialization=True)
    pipe.unet.delete_adapters("random_lcm")
    return directory


def fill_atlas(store, n: int, dim: int) -> None:
    """`n` random unit vectors with captions, indexed (HNSW built) as after ingestion."""
    from engine.store.base import AtlasPayload, AtlasRecord, as_unit_rows

    rng = np.random.default_rng(0)
    for start in range(0, n, 2048):
        vectors = as_unit_rows(rng.normal(size=(min(2048, n - start), dim)).astype(np.float32))
        store.upsert([AtlasRecord(vector=v, payload=AtlasPayload(
            atlas_id=f"ROCO_{start + i:06d}", caption=CAPTIONS[(start + i) % len(CAPTIONS)], split="train"))
            for i, v in enumerate(vectors)])
    store.optimize()


def bench_end_to_end(bench: Bench) -> None:
    """Each /mirage command through the engine's pipelines, on the random full-size models and a random atlas."""
    from PIL import Image

    from engine.config import EngineSettings
    from engine.models.clip import OpenClipEncoder
    from engine.models.diffusion import DiffusionGenerator
    from engine.models.llm import CausalLMGenerator
    from engine.pipelines.compare import ComparePipeline
    from engine.pipelines.generate import GenerateDefaults, GeneratePipeline
    from engine.pipelines.image_search import ImageSearchPipeline
    from engine.pipelines.retrieval import Retriever
    from engine.pipelines.search import SearchPipeline
    from engine.store.factory import open_store

    scale = bench.scale
    if not bench.allows("end_to_end"):
        return
    cuda = scale.device.startswith("cuda")
    with tempfile.TemporaryDirectory(prefix="mirage-bench-") as tmp:
        # 1. The engine's model wrappers around the random full-size models (the engine's defaults:
        #    CLIP and diffusion in half precision, the LLM in 8-bit on CUDA)
        model, transform, tokenizer = build_clip(scale)
        clip = OpenClipEncoder(model, transform, tokenizer, model_id="random ViT-L-14 448px", device=scale.device,
                               dtype=scale.half)
        llm_model = build_llm(scale, dtype=torch.float16 if cuda else torch.bfloat16, attn="sdpa")
        if cuda:
            llm_model = quantize_8bit(llm_model, threshold=6.0)
        llm_tokenizer = clip_bpe_tokenizer()
        llm_tokenizer.model_max_length = scale.llm["max_position_embeddings"]
        llm = CausalLMGenerator(llm_model, llm_tokenizer, model_id="random GPT-NeoX (Dolly-v2-3b config)",
                                device=scale.device)
        pipe = build_diffusion(scale)
        lora = save_random_lcm_lora(pipe, Path(tmp) / "lcm-lora", rank=64 if scale.name == "full" else 4)
        diffusion = DiffusionGenerator(pipe, model_id="random SD 1.5", device=scale.device, lcm_lora=str(lora))

        # 2. An atlas of random vectors in the engine's default (embedded) store
        settings = EngineSettings(data_dir=Path(tmp) / "data", llm_max_new_tokens=scale.new_tokens, _env_file=None)
        store = open_store(settings, clip.dim)
        t0 = time.perf_counter()
        fill_atlas(store, scale.atlas_points, clip.dim)
        bench.report.notes += [
            f"end-to-end atlas: {scale.atlas_points} random points in the embedded store "
            f"(filled and indexed in {time.perf_counter() - t0:.0f} s); ROCO has ~81k",
            "end-to-end LLM: 8-bit on CUDA as the engine loads it; CLIP's 49,408-token BPE stands in for "
            "Dolly's tokenizer (not downloadable), so prompts have about the same token count",
            "end-to-end fast mode: a random LoRA of lcm-lora-sdv1-5's shape, loaded and switched on by the engine",
        ]
        retriever = Retriever.from_settings(store, settings)
        defaults = GenerateDefaults.from_settings(settings)
        if scale.name == "tiny":
            defaults = GenerateDefaults(steps=1, guidance=7.5, fast_steps=scale.fast_steps, fast_guidance=1.5)
        res = scale.resolution
        image = Image.new("RGB", (res, res), (90, 90, 90))
        commands: dict[str, Callable[[], Any]] = {
            "/mirage search (enriched)": lambda: SearchPipeline.from_settings(clip, retriever, llm, settings)(
                PROMPT, k=4, enrich=True),
            "/mirage search (no enrichment)": lambda: SearchPipeline.from_settings(clip, retriever, llm, settings)(
                PROMPT, k=4, enrich=False),
            "/mirage image": lambda: ImageSearchPipeline(clip, retriever)(image, k=4),
            "/mirage compare": lambda: ComparePipeline(clip, retriever)(
                PROMPT, "pneumonia", "pleural effusion", k=1),
            f"/mirage generate ({defaults.steps} steps)": lambda: GeneratePipeline(
                diffusion, clip, retriever, defaults)(PROMPT, seed=0),
            f"/mirage generate fast ({defaults.fast_steps} steps, LCM-LoRA)": lambda: GeneratePipeline(
                diffusion, clip, retriever, defaults)(PROMPT, seed=0, fast=True),
        }
        try:
            for name, command in commands.items():
                timings: list[dict[str, float]] = []
                runs = bench.time_runs(lambda c=command, t=timings: t.append(c().timings_ms))
                steps = {k: statistics.median(t[k] for t in timings[-len(runs):] if k in t)
                         for k in timings[-1] if k != "total"}
                breakdown = ", ".join(f"{k} {v:.0f} ms" for k, v in steps.items())
                bench.add("end_to_end", name, runs, unit="ms", note=breakdown)
        finally:
            store.close()


# ---------------------------------------------------------------------------------------------
# torch.compile (last: the slowest to prepare, the first to go when the budget runs out)
# ---------------------------------------------------------------------------------------------


def bench_compile(bench: Bench) -> None:
    """CLIP's image tower and the UNet with and without torch.compile (compile time reported apart)."""
    scale = bench.scale
    size = scale.clip["vision_cfg"]["image_size"]
    batch_n = scale.clip_batches[-2] if len(scale.clip_batches) > 1 else scale.clip_batches[0]
    if bench.allows("clip_compile"):
        with bench.stage("clip compile"):
            model, _, _ = build_clip(scale)
            pixels = torch.randn(batch_n, 3, size, size, device=scale.device, dtype=scale.half)
            bench.add("clip_image", f"batch {batch_n}, eager (compile baseline)",
                      bench.time_runs(lambda: _no_grad(model.encode_image, pixels)), per=batch_n, unit="images/s")
            compiled = torch.compile(model.encode_image, backend=scale.compile_backend)
            first = bench.time_runs(lambda: _no_grad(compiled, pixels), repeats=1, warmup=0)
            bench.add("clip_image", f"batch {batch_n}, torch.compile", bench.time_runs(
                lambda: _no_grad(compiled, pixels)), per=batch_n, unit="images/s",
                note=f"compiled in {first[0]:.0f} s ({scale.compile_backend})")
    if scale.name == "tiny":
        bench.skip("diffusion_compile", "tiny: the UNet is compiled at full scale only (tracing alone takes ~15 s on CPU)")
        return
    if bench.allows("diffusion_compile"):
        pipe = build_diffusion(scale)
        steps = scale.diffusion_steps[0]
        pipe.unet.to(memory_format=torch.channels_last)
        time_image(bench, pipe, f"{steps} steps, channels_last (compile baseline)", steps=steps, guidance=7.5)
        pipe.unet = torch.compile(pipe.unet, backend=scale.compile_backend)
        first = bench.time_runs(lambda: pipe(PROMPT, num_inference_steps=1, height=scale.resolution,
                                             width=scale.resolution, output_type="latent"), repeats=1, warmup=0)
        time_image(bench, pipe, f"{steps} steps, channels_last + torch.compile(unet)", steps=steps,
                   guidance=7.5, note=f"compiled in {first[0]:.0f} s ({scale.compile_backend})")


# In running order: torch.compile last, as the first thing to drop when time runs short.
STAGES: dict[str, Callable[[Bench], None]] = {
    "clip": bench_clip,
    "llm": bench_llm,
    "diffusion": bench_diffusion,
    "end_to_end": bench_end_to_end,
    "compile": bench_compile,
}


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def table(report: Report) -> str:
    """The results as one fixed-width table."""
    lines = [f"MIRAGE GPU bench — {report.scale} scale on {report.device}",
             f"{'stage':<16} {'variant':<62} {'median':>12}  unit",
             "-" * 100]
    for row in report.rows:
        lines.append(f"{row.stage:<16} {row.variant:<62} {row.value:>12.3f}  {row.unit}"
                     + (f"  ({row.note})" if row.note else ""))
    for skip in report.skipped:
        lines.append(f"{'skipped':<16} {skip['stage']:<62} {'':>12}  {skip['reason']}")
    for note in report.notes:
        lines.append(f"note: {note}")
    lines.append(f"total {report.elapsed_s:.0f} s (budget {report.budget_s:.0f} s)")
    return "\n".join(lines)


def write_json(report: Report, path: Path) -> None:
    """The report as JSON (rows, skips, notes, environment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(report), indent=2))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny configs on CPU (CI); same code paths")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results" / "gpu_bench.json")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="stop starting stages after this many seconds (default 390 full, unlimited tiny)")
    parser.add_argument("--device", default="cuda", help="CUDA device for the full-size run (default cuda)")
    parser.add_argument("--full", action="store_true",
                        help="with --device cpu: every pipeline at full shapes through the real loaders and the "
                             "HTTP app (bench/full_cpu.py)")
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / ".cache" / "bench-full",
                        help="--full: where the random full-size models are built once")
    parser.add_argument("--new-tokens", type=int, default=8, help="--full on CPU: LLM tokens per answer")
    parser.add_argument("--steps", type=int, default=2, help="--full on CPU: diffusion steps of the full mode")
    parser.add_argument("--shapes", choices=("full", "tiny"), default="full",
                        help="--full on CPU: tiny shapes test the run's mechanics in a minute")
    parser.add_argument("--stages", default=",".join(STAGES),
                        help=f"comma-separated subset of {','.join(STAGES)}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the selected stages, print the table, write the JSON; 0 on success, 2 on bad arguments."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args(argv)
    if args.full and args.device == "cpu":
        from full_cpu import run_full_cpu

        out = args.out if args.out.name != "gpu_bench.json" else args.out.with_name("gpu_bench_cpu_full.json")
        return run_full_cpu(out, args.cache, args.budget_s or 1200.0, args.new_tokens, args.steps, args.shapes)
    if args.tiny:
        scale = tiny_scale()
        torch.set_num_threads(1)  # tiny tensors: threads only add contention on a shared CI machine
    elif not torch.cuda.is_available():
        print("gpu_bench: CUDA is not available; use --tiny to run the tiny configs on CPU", file=sys.stderr)
        return 2
    else:
        scale = full_scale(args.device)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        print(f"gpu_bench: unknown --stages {unknown}; choose from {list(STAGES)}", file=sys.stderr)
        return 2
    budget = args.budget_s if args.budget_s is not None else (390.0 if scale.name == "full" else 1e9)
    bench = Bench(scale, budget)
    torch.manual_seed(0)
    np.random.seed(0)
    for name in stages:
        with bench.stage(name):
            STAGES[name](bench)
    bench.report.elapsed_s = round(time.perf_counter() - bench.start, 1)
    write_json(bench.report, args.out)
    print(table(bench.report))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
