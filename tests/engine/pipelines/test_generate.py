"""Generate pipeline mechanics with a seeded-noise 'diffusion model' (the real tiny one: test_on_tiny_models)."""

import io
import threading

import numpy as np
import pytest
from PIL import Image

from engine.models.base import GenerationCancelled
from engine.pipelines.generate import GenerateDefaults, GeneratePipeline
from engine.pipelines.results import InvalidInput
from engine.pipelines.retrieval import Retriever
from engine.pipelines.stamp import BANNER_FILL, banner_box

from .fakes import BagOfWordsClip, NoiseDiffusion, atlas_of


def pipeline(diffusion=None):
    clip = BagOfWordsClip()
    store = atlas_of({"A": "pleural effusion", "B": "pneumothorax"}, clip)
    diffusion = diffusion or NoiseDiffusion()
    defaults = GenerateDefaults(steps=30, guidance=7.5, fast_steps=4, fast_guidance=1.5)
    return GeneratePipeline(diffusion, clip, Retriever(store, dedup_threshold=1.0), defaults), diffusion


def test_defaults_come_from_settings_and_fast_mode_has_its_own():
    generate, diffusion = pipeline()
    normal = generate("pneumothorax", seed=1)
    fast = generate("pneumothorax", seed=1, fast=True)
    assert (normal.steps, normal.guidance, fast.steps, fast.guidance) == (30, 7.5, 4, 1.5)
    assert [c["fast"] for c in diffusion.calls] == [False, True]


def test_the_original_prompt_goes_to_the_model_cut_by_its_tokenizer():
    generate, diffusion = pipeline()
    long_prompt = " ".join(f"w{i}" for i in range(120))
    result = generate(long_prompt, seed=3, steps=2)
    assert diffusion.calls[0]["prompt"] == result.prompt_used == " ".join(f"w{i}" for i in range(75))
    assert result.prompt == long_prompt


def test_a_missing_seed_is_drawn_and_returned_so_the_image_can_be_replayed():
    generate, _ = pipeline()
    first = generate("pneumothorax", steps=2)
    again = generate("pneumothorax", steps=2, seed=first.seed)
    assert first.png == again.png


def test_result_png_is_stamped_and_carries_metadata_and_nearest_is_a_real_atlas_image():
    generate, _ = pipeline()
    result = generate("pneumothorax", seed=5, steps=3, guidance=2.0)
    image = Image.open(io.BytesIO(result.png))
    assert image.text["synthetic"] == "true" and image.text["seed"] == "5" and image.text["steps"] == "3"
    left, top, right, bottom = banner_box(image.size)
    assert (np.asarray(image.convert("RGB"))[top:bottom] == BANNER_FILL).all(axis=-1).mean() > 0.5
    assert result.nearest is not None and result.nearest.atlas_id in {"A", "B"}


def test_png_metadata_names_the_model_without_the_local_path_it_was_loaded_from(tmp_path):
    diffusion = NoiseDiffusion()
    diffusion.model_id = str(tmp_path / "alice" / "models" / "sd-radiology")
    (tmp_path / "alice" / "models" / "sd-radiology").mkdir(parents=True)
    generate, _ = pipeline(diffusion)
    text = Image.open(io.BytesIO(generate("pneumothorax", seed=5, steps=2).png)).text
    assert text["model"] == "local:sd-radiology"
    assert not any(str(tmp_path) in value or "alice" in value for value in text.values()), text
    diffusion.model_id = "org/sd-radiology"  # a hub id is its own public name
    assert Image.open(io.BytesIO(generate("pneumothorax", seed=5, steps=2).png)).text["model"] == "org/sd-radiology"


def test_progress_is_reported_for_every_step_in_order():
    generate, _ = pipeline()
    seen = []
    generate("pneumothorax", seed=1, steps=5, on_step=lambda s, t: seen.append((s, t)))
    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


def test_cancel_stops_generation():
    generate, diffusion = pipeline()
    cancel = threading.Event()
    with pytest.raises(GenerationCancelled):
        generate("pneumothorax", seed=1, steps=50, on_step=lambda s, t: s == 3 and cancel.set(), cancel=cancel)
    assert diffusion.steps_run == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt": " "}, "prompt: must not be empty"),
        ({"prompt": "x", "steps": 0}, r"steps: between 1 and 100 \(got 0\)"),
        ({"prompt": "x", "steps": 20, "fast": True}, r"steps: between 1 and 8 in fast mode \(got 20\)"),
        ({"prompt": "x", "guidance": 25.0}, "guidance: between 0.0 and 20.0"),
        ({"prompt": "x", "seed": 2**32}, "seed: between 0 and 4294967295"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, message):
    generate, diffusion = pipeline()
    prompt = kwargs.pop("prompt")
    with pytest.raises(InvalidInput, match=message):
        generate(prompt, **kwargs)
    assert diffusion.calls == []


def test_fast_mode_without_lcm_lora_is_refused():
    diffusion = NoiseDiffusion()
    diffusion.supports_fast = False
    generate, _ = pipeline(diffusion)
    with pytest.raises(InvalidInput, match="fast: this engine has no LCM-LoRA"):
        generate("x", fast=True)
