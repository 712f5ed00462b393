"""bench/gpu_bench.py: the tiny run goes through every stage on CPU and writes valid JSON."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
SCRIPT = REPO_ROOT / "bench" / "gpu_bench.py"


def _load_module():
    """The script as a module (registered first: its dataclasses look themselves up in sys.modules)."""
    if "gpu_bench" in sys.modules:
        return sys.modules["gpu_bench"]
    spec = importlib.util.spec_from_file_location("gpu_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_bench"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_tiny_run_times_every_stage_and_writes_json(tmp_path: Path, capsys) -> None:
    bench = _load_module()
    out = tmp_path / "bench.json"
    threads = bench.torch.get_num_threads()
    try:  # in-process: the imports are shared with the test session (a subprocess spends ~10 s on them)
        assert bench.main(["--tiny", "--out", str(out)]) == 0
    finally:
        bench.torch.set_num_threads(threads)
        bench.torch._dynamo.reset()
    report = json.loads(out.read_text())
    assert report["scale"] == "tiny" and report["device"].startswith("CPU")
    stages = {row["stage"] for row in report["rows"]}
    assert stages == {"clip_image", "clip_text", "clip_batching", "llm", "diffusion", "end_to_end"}
    assert all(row["value"] > 0 and row["runs_s"] for row in report["rows"])
    variants = {row["variant"] for row in report["rows"]}
    assert any("8-bit" in v for v in variants) and any("torch.compile" in v for v in variants)
    commands = {v for v in variants if v.startswith("/mirage")}
    assert {c.split(" (")[0] for c in commands} == {"/mirage search", "/mirage image", "/mirage compare",
                                                    "/mirage generate", "/mirage generate fast"}
    assert [s["stage"] for s in report["skipped"]] == ["diffusion_compile"]  # full scale only
    printed = capsys.readouterr().out
    assert "MIRAGE GPU bench" in printed and "/mirage compare" in printed


def test_without_cuda_the_full_run_refuses_with_a_hint(tmp_path: Path, capsys) -> None:
    bench = _load_module()
    if bench.torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert bench.main(["--out", str(tmp_path / "x.json")]) == 2
    assert "use --tiny" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_unknown_stage_is_refused_by_name(tmp_path: Path, capsys) -> None:
    bench = _load_module()
    assert bench.main(["--tiny", "--stages", "clip,warp", "--out", str(tmp_path / "x.json")]) == 2
    assert "unknown --stages ['warp']" in capsys.readouterr().err


def test_budget_skips_stages_that_do_not_fit() -> None:
    bench = _load_module()
    scale = bench.full_scale("cuda")
    b = bench.Bench.__new__(bench.Bench)  # no device query: only the budget logic
    b.scale, b.budget_s, b.start = scale, 50.0, bench.time.perf_counter()
    b.report = bench.Report(scale="full", device="test", environment={}, budget_s=50.0)
    assert b.allows("clip")  # 25 s estimated
    assert not b.allows("llm_8bit")  # 90 s estimated
    assert b.report.skipped[0]["stage"] == "llm_8bit" and "estimated 90 s" in b.report.skipped[0]["reason"]


def test_full_size_configs_have_the_published_parameter_counts() -> None:
    """Built on the meta device (no memory, no time): the inline configs are the real architectures."""
    import dataclasses

    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    bench = _load_module()
    torch = bench.torch
    scale = dataclasses.replace(bench.full_scale("meta"), half=torch.float16)

    def count(module) -> int:
        return sum(p.numel() for p in module.parameters())

    clip, _, _ = bench.build_clip(scale)
    # ViT-L/14 CLIP has 427,616,513 parameters at 224 px; at 448 px the position table grows by
    # (1025 - 257) tokens x 1024
    assert count(clip) == 427_616_513 + 768 * 1024
    # pythia-2.8b's 2,775,208,960 with Dolly's 50,280-token vocabulary instead of 50,304 (input and output)
    assert count(bench.build_llm(scale, dtype=torch.float16, attn="sdpa")) == 2_775_208_960 - 2 * 24 * 2560
    with torch.device("meta"):  # SD 1.5's UNet, VAE and text encoder
        assert count(UNet2DConditionModel(**scale.unet)) == 859_520_964
        assert count(AutoencoderKL(**scale.vae)) == 83_653_863
        assert count(CLIPTextModel(CLIPTextConfig(**scale.text))) == 123_060_480


def test_full_cpu_models_load_through_the_real_loaders(tmp_path: Path) -> None:
    """`--device cpu --full` builds its models with bench/full_models.py and the engine's own loaders read
    them (checked here at tiny shapes; the full-size run is recorded in bench/README.md)."""
    _load_module()
    import full_models

    from engine.models.clip import load_clip
    from engine.models.llm import load_llm

    clip_record = full_models.build_role("clip", tmp_path, "tiny")
    llm_record = full_models.build_role("llm", tmp_path, "tiny")
    assert full_models.build_role("clip", tmp_path, "tiny") == clip_record  # built once, then reused
    clip = load_clip(str(tmp_path / "clip"), device="cpu")
    assert clip.dim == clip_record["dim"] and clip.encode_text(["a chest x-ray"]).shape == (1, clip.dim)
    llm = load_llm(str(tmp_path / "llm"), device="cpu")
    assert llm_record["dtype"] == "bfloat16" and next(llm.model.parameters()).dtype == bench_torch().bfloat16


def test_full_cpu_report_table() -> None:
    _load_module()
    import full_cpu

    report = {"elapsed_s": 12.0, "budget_s": 1200, "start": {}, "end": {}, "rss_mb": {"llm": 7000},
              "stages": [{"stage": "ask", "s": 3.5, "load_before": [1.0], "load_after": [2.0],
                          "engine_timings_ms": {"llm": 3400}}], "skipped": ["quiz: budget of 1200 s spent"]}
    text = full_cpu.markdown(report)
    assert "| ask | 3.5 | 1.0 / 2.0 | llm 3400 |" in text and "skipped: quiz" in text


def bench_torch():
    return _load_module().torch
