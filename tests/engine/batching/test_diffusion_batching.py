"""Diffusion generations sharing one denoising loop: each seed keeps its picture and its own progress."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from engine.batching.models import BatchedImageGenerator
from engine.models.base import GenerationCancelled

from .helpers import forward_hook, together

pytestmark = pytest.mark.slow

PROMPTS = ["chest x-ray, left lower lobe opacity", "axial CT of the brain", "knee MRI, torn meniscus"]
SEEDS = [11, 22, 33]
STEPS, GUIDANCE = 3, 7.5
PIXEL_TOLERANCE = 2  # of 255: float rounding in a larger batch may move a pixel by a level


@pytest.fixture
def batched(tiny_diffusion):
    wrapper = BatchedImageGenerator(tiny_diffusion, window_s=0.3, max_size=8)
    yield wrapper
    wrapper.close()


def alone(tiny_diffusion, prompt: str, seed: int, **kwargs) -> np.ndarray:
    settings = {"steps": STEPS, "guidance": GUIDANCE} | kwargs
    return np.asarray(tiny_diffusion.generate(prompt, seed=seed, **settings), dtype=np.int16)


def assert_same_picture(image, expected: np.ndarray) -> None:
    got = np.asarray(image, dtype=np.int16)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= PIXEL_TOLERANCE


def test_each_seed_keeps_its_picture_and_its_progress_in_a_shared_loop(tiny_diffusion, batched):
    expected = [alone(tiny_diffusion, p, s) for p, s in zip(PROMPTS, SEEDS, strict=True)]
    progress: dict[int, list[tuple[int, int]]] = {i: [] for i in range(3)}
    got = together([
        lambda i=i: batched.generate(
            PROMPTS[i], seed=SEEDS[i], steps=STEPS, guidance=GUIDANCE,
            on_step=lambda step, total, i=i: progress[i].append((step, total)),
        )
        for i in range(3)
    ])
    for image, picture in zip(got, expected, strict=True):
        assert_same_picture(image, picture)
    assert not np.array_equal(expected[0], expected[1])
    assert batched.batcher.sizes == {3: 1}
    for steps in progress.values():  # every step of the scheduler, in order (PNDM may add one)
        total = steps[-1][1]
        assert total >= STEPS and steps == [(n, total) for n in range(1, total + 1)]


def test_different_steps_guidance_or_mode_never_share_a_loop(tiny_diffusion, batched):
    settings = [
        {"steps": STEPS, "guidance": GUIDANCE},
        {"steps": STEPS, "guidance": 2.0},
        {"steps": 2, "guidance": 1.5, "fast": True},
        {"steps": STEPS, "guidance": GUIDANCE},
    ]
    expected = [alone(tiny_diffusion, PROMPTS[0], 5, **kw) for kw in settings]
    got = together([lambda kw=kw: batched.generate(PROMPTS[0], seed=5, **kw) for kw in settings])
    for image, picture in zip(got, expected, strict=True):
        assert_same_picture(image, picture)
    assert sum(batched.batcher.sizes.values()) == 3 and batched.batcher.sizes[2] == 1


def test_a_client_leaving_mid_loop_is_released_at_once_and_its_neighbours_keep_their_pictures(
    tiny_diffusion, batched
):
    steps = 6
    expected = {i: alone(tiny_diffusion, PROMPTS[i], SEEDS[i], steps=steps) for i in (0, 2)}
    cancel = threading.Event()
    released: dict[int, float] = {}

    def leave_after_first_step(step: int, total: int) -> None:
        cancel.set()

    def call(i: int):
        try:
            return batched.generate(
                PROMPTS[i], seed=SEEDS[i], steps=steps, guidance=GUIDANCE,
                on_step=leave_after_first_step if i == 1 else None, cancel=cancel if i == 1 else None,
            )
        finally:
            released[i] = time.monotonic()

    got = together([lambda i=i: call(i) for i in range(3)])
    assert isinstance(got[1], GenerationCancelled)
    assert released[1] < min(released[0], released[2])  # not kept until the loop ends
    for i in (0, 2):
        assert_same_picture(got[i], expected[i])


def test_a_prompt_whose_pixels_go_nan_fails_alone(tiny_diffusion, batched):
    prompts = ["chest x-ray", "zebra stripes on a radiograph", "axial CT"]
    poison = tiny_diffusion.tokenizer("zebra", add_special_tokens=False).input_ids[0]
    expected = {i: alone(tiny_diffusion, prompts[i], SEEDS[i]) for i in (0, 2)}

    def nan_rows(module, args, kwargs, output):
        input_ids = args[0] if args else kwargs["input_ids"]
        poisoned = (input_ids == poison).any(-1)
        output.last_hidden_state.masked_fill_(poisoned[:, None, None], float("nan"))

    with forward_hook(tiny_diffusion.pipe.text_encoder, nan_rows):
        got = together([
            lambda i=i: batched.generate(prompts[i], seed=SEEDS[i], steps=STEPS, guidance=GUIDANCE) for i in range(3)
        ])
    assert isinstance(got[1], FloatingPointError) and "non-finite" in str(got[1])
    for i in (0, 2):
        assert_same_picture(got[i], expected[i])


def test_bad_settings_are_refused_before_joining_a_batch(batched):
    with pytest.raises(ValueError, match="steps"):
        batched.generate("x", seed=1, steps=0, guidance=1.0)
    assert sum(batched.batcher.sizes.values()) == 0
