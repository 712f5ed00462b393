"""CLIP encodes sharing forward passes: each caller gets the vectors it would get alone."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from engine.batching.models import BatchedClip

from .helpers import forward_hook, together

pytestmark = pytest.mark.slow

TEXTS = [
    "bright round lesion in the upper left",
    "chest x-ray with a dark wedge at the lower right",
    "axial CT",
    "ultrasound of a small bright spot near the centre with a faint ring",
]


@pytest.fixture
def batched(clip_encoder):
    wrapper = BatchedClip(clip_encoder, window_s=0.3, max_size=8)
    yield wrapper
    wrapper.close()


def picture(colour: tuple[int, int, int], size: int = 80) -> Image.Image:
    image = Image.new("RGB", (size, size), colour)
    image.paste((255 - colour[0], 128, colour[2] // 2), (size // 4, size // 4, size // 2, size // 2))
    return image


def truncated_png() -> Image.Image:
    """An image whose header reads but whose pixels do not (opened lazily, like an upload would be)."""
    buffer = io.BytesIO()
    picture((10, 20, 30), 200).save(buffer, format="PNG")
    return Image.open(io.BytesIO(buffer.getvalue()[:300]))


def test_text_encodes_in_one_batch_match_each_text_alone(clip_encoder, batched):
    expected = [clip_encoder.encode_text([t])[0] for t in TEXTS]
    got = together([lambda t=t: batched.encode_text([t]) for t in TEXTS])
    for vectors, alone in zip(got, expected, strict=True):
        assert vectors.shape == (1, clip_encoder.dim)
        np.testing.assert_allclose(vectors[0], alone, atol=1e-5)
    assert batched.text.sizes == {len(TEXTS): 1}


def test_a_caller_with_several_texts_gets_its_own_rows_back_in_order(clip_encoder, batched):
    got = together([lambda: batched.encode_text(TEXTS[:3]), lambda: batched.encode_text(TEXTS[3:])])
    np.testing.assert_allclose(np.concatenate(got), clip_encoder.encode_text(TEXTS), atol=1e-5)


def test_image_encodes_in_one_batch_match_each_image_alone(clip_encoder, batched):
    images = [picture((40 * i, 255 - 40 * i, 90)) for i in range(4)]
    expected = [clip_encoder.encode_images([im])[0] for im in images]
    got = together([lambda im=im: batched.encode_images([im]) for im in images])
    for vectors, alone in zip(got, expected, strict=True):
        np.testing.assert_allclose(vectors[0], alone, atol=1e-5)
    assert batched.images.sizes == {4: 1}


def test_an_unreadable_image_fails_only_its_own_request(clip_encoder, batched):
    good = [picture((200, 10, 10)), picture((10, 200, 10))]
    expected = [clip_encoder.encode_images([im])[0] for im in good]
    got = together([
        lambda: batched.encode_images([good[0]]),
        lambda: batched.encode_images([truncated_png()]),
        lambda: batched.encode_images([good[1]]),
    ])
    assert isinstance(got[1], OSError) and "truncated" in str(got[1])
    np.testing.assert_allclose(got[0][0], expected[0], atol=1e-5)
    np.testing.assert_allclose(got[2][0], expected[1], atol=1e-5)


def test_an_image_whose_vector_goes_nan_fails_alone(clip_encoder, batched):
    images = [picture((30, 60, 90)), picture((13, 200, 77)), picture((90, 60, 30))]
    marker = clip_encoder.preprocess(images[1])[0, 0, 0].item()
    expected = {i: clip_encoder.encode_images([images[i]])[0] for i in (0, 2)}

    def nan_rows(module, args, kwargs, output):
        poisoned = torch.isclose(args[0][:, 0, 0, 0], torch.tensor(marker))
        return output.masked_fill(poisoned[:, None], float("nan"))

    with forward_hook(clip_encoder.model.visual, nan_rows):
        got = together([lambda im=im: batched.encode_images([im]) for im in images])
    assert isinstance(got[1], FloatingPointError) and "non-finite" in str(got[1])
    for i in (0, 2):
        np.testing.assert_allclose(got[i][0], expected[i], atol=1e-5)


def test_what_the_wrapper_does_not_batch_goes_to_the_encoder(clip_encoder, batched):
    pixels = torch.stack([clip_encoder.preprocess(picture((1, 2, 3)))])
    np.testing.assert_allclose(batched.encode_pixels(pixels), clip_encoder.encode_pixels(pixels))
    assert batched.dim == clip_encoder.dim and batched.encode_text([]).shape == (0, clip_encoder.dim)
