"""The tiny Stable Diffusion through load_diffusion: seeds, progress, cancellation, fast mode, prompt cut."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.models.base import GenerationCancelled
from engine.models.diffusion import load_diffusion

PROMPT = "Axial CT scan showing a bright round lesion in the upper left"


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


@pytest.fixture(scope="module")
def normal_image(tiny_diffusion):
    return tiny_diffusion.generate(PROMPT, seed=7, steps=3, guidance=7.5)


def test_the_same_seed_gives_identical_pixels(tiny_diffusion, normal_image):
    again = tiny_diffusion.generate(PROMPT, seed=7, steps=3, guidance=7.5)
    assert normal_image.mode == "RGB" and normal_image.size == (64, 64)
    np.testing.assert_array_equal(pixels(again), pixels(normal_image))


def test_a_different_seed_gives_different_pixels(tiny_diffusion, normal_image):
    other = tiny_diffusion.generate(PROMPT, seed=8, steps=3, guidance=7.5)
    assert np.abs(pixels(other) - pixels(normal_image)).mean() > 1


def test_progress_is_reported_once_per_denoising_step_up_to_the_total(tiny_diffusion):
    reports: list[tuple[int, int]] = []
    tiny_diffusion.generate(
        PROMPT, seed=1, steps=4, guidance=7.5, on_step=lambda done, total: reports.append((done, total))
    )
    total = reports[-1][1]
    assert total >= 4  # SD's default PNDM scheduler adds one warm-up step
    assert reports == [(i, total) for i in range(1, total + 1)]


def test_setting_cancel_mid_run_raises_and_stops_the_loop(tiny_diffusion):
    cancel = threading.Event()
    reports: list[int] = []

    def on_step(done: int, total: int) -> None:
        reports.append(done)
        if done == 2:
            cancel.set()

    with pytest.raises(GenerationCancelled):
        tiny_diffusion.generate(PROMPT, seed=1, steps=10, guidance=7.5, on_step=on_step, cancel=cancel)
    assert reports == [1, 2]


def test_fast_mode_gives_a_different_image_and_leaves_normal_mode_intact(tiny_diffusion, normal_image):
    assert tiny_diffusion.supports_fast
    fast = tiny_diffusion.generate(PROMPT, seed=7, steps=4, guidance=1.5, fast=True)
    assert fast.size == (64, 64)
    assert np.abs(pixels(fast) - pixels(normal_image)).mean() > 1
    fast_again = tiny_diffusion.generate(PROMPT, seed=7, steps=4, guidance=1.5, fast=True)
    np.testing.assert_array_equal(pixels(fast_again), pixels(fast))
    after = tiny_diffusion.generate(PROMPT, seed=7, steps=3, guidance=7.5)
    np.testing.assert_array_equal(pixels(after), pixels(normal_image))


def test_fast_mode_without_an_lcm_lora_is_refused(tiny_paths):
    plain = load_diffusion(tiny_paths.diffusion, device="cpu")
    assert not plain.supports_fast
    with pytest.raises(ValueError, match="LCM-LoRA"):
        plain.generate(PROMPT, seed=0, steps=2, guidance=1.0, fast=True)


def test_a_short_prompt_is_unchanged(tiny_diffusion):
    assert tiny_diffusion.truncate_prompt(PROMPT) == PROMPT


def test_a_long_prompt_is_cut_by_tokens_to_the_encoder_limit(tiny_diffusion):
    long_prompt = "bright round lesion in the upper left, " * 30
    cut = tiny_diffusion.truncate_prompt(long_prompt)
    ids = tiny_diffusion.tokenizer(cut).input_ids
    assert len(ids) <= 77 == tiny_diffusion.max_tokens
    assert len(ids) >= 70  # cut near the limit, not far short of it
    assert cut.startswith("bright round lesion in the upper left")


def test_zero_steps_names_the_argument(tiny_diffusion):
    with pytest.raises(ValueError, match="steps"):
        tiny_diffusion.generate(PROMPT, seed=0, steps=0, guidance=7.5)
