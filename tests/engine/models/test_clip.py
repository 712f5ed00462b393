"""The tiny CLIP through load_clip: it finds the right image for a caption, with unit vectors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image

from engine.models.base import WeightsNotFoundError
from engine.models.clip import load_clip
from engine.tiny.demo_atlas import demo_pairs


@pytest.fixture(scope="module")
def atlas(clip_encoder, demo_atlas_dir):
    """Captions, their image vectors and text vectors for the whole demo atlas."""
    pairs = demo_pairs(demo_atlas_dir)
    captions = [caption for _, caption, _ in pairs]
    images = [Image.open(path).convert("RGB") for _, _, path in pairs]
    return captions, clip_encoder.encode_images(images), clip_encoder.encode_text(captions)


def test_a_caption_finds_its_own_image_in_the_top_3(atlas):
    captions, image_vectors, text_vectors = atlas
    top3 = np.argsort(-(text_vectors @ image_vectors.T), axis=1)[:, :3]
    found = [captions[i] in {captions[j] for j in row} for i, row in enumerate(top3)]
    assert np.mean(found) >= 0.8


def test_an_image_finds_its_own_caption_in_the_top_3(atlas):
    captions, image_vectors, text_vectors = atlas
    top3 = np.argsort(-(image_vectors @ text_vectors.T), axis=1)[:, :3]
    found = [captions[i] in {captions[j] for j in row} for i, row in enumerate(top3)]
    assert np.mean(found) >= 0.8


def test_matching_pairs_score_higher_than_mismatched_ones(atlas):
    # swapped or shuffled towers would make the diagonal no better than the rest
    _, image_vectors, text_vectors = atlas
    scores = text_vectors @ image_vectors.T
    off_diagonal = scores[~np.eye(len(scores), dtype=bool)]
    assert np.diag(scores).mean() > off_diagonal.mean() + 0.2


def test_vectors_are_float32_unit_rows_of_the_model_dimension(clip_encoder, atlas):
    _, image_vectors, text_vectors = atlas
    for vectors in (image_vectors, text_vectors):
        assert vectors.dtype == np.float32
        assert vectors.shape[1] == clip_encoder.dim == 64
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_input_gives_an_empty_matrix(clip_encoder):
    assert clip_encoder.encode_text([]).shape == (0, clip_encoder.dim)
    assert clip_encoder.encode_images([]).shape == (0, clip_encoder.dim)


def test_a_single_string_is_refused(clip_encoder):
    with pytest.raises(TypeError, match="sequence of strings"):
        clip_encoder.encode_text("a CT scan")


def test_text_longer_than_the_context_is_cut_not_an_error(clip_encoder):
    vector = clip_encoder.encode_text(["bright round lesion " * 50])
    assert vector.shape == (1, clip_encoder.dim)
    assert clip_encoder.context_length == 24


def test_text_vectors_equal_open_clips_own_but_skip_the_padding_after_the_last_text(clip_encoder):
    import torch

    texts = ["lesion", "bright round lesion in the left lobe", "x"]
    widths: list[int] = []
    handle = clip_encoder.model.transformer.register_forward_hook(lambda _m, args, _o: widths.append(args[0].shape[1]))
    try:
        vectors = clip_encoder.encode_text(texts)
    finally:
        handle.remove()
    tokens = clip_encoder.tokenizer(texts)
    with torch.inference_mode():
        full = torch.nn.functional.normalize(clip_encoder.model.encode_text(tokens), dim=-1).numpy()
    np.testing.assert_allclose(vectors, full, atol=1e-5)  # open_clip runs every text to the full context
    longest = int(tokens.argmax(dim=-1).max()) + 1  # the last end-of-text token, counted from 1
    assert widths == [longest] and longest < clip_encoder.context_length


def test_preprocess_pickles_and_batched_pixels_match_encode_images(clip_encoder, demo_atlas_dir):
    images = [Image.open(path) for _, _, path in demo_pairs(demo_atlas_dir)[:5]]
    preprocess = pickle.loads(pickle.dumps(clip_encoder.preprocess))  # as a DataLoader worker gets it
    batch = np.stack([preprocess(im).numpy() for im in images])
    import torch

    np.testing.assert_allclose(
        clip_encoder.encode_pixels(torch.from_numpy(batch)), clip_encoder.encode_images(images), atol=1e-5
    )


def test_a_directory_without_weights_names_the_role_and_the_path(tmp_path):
    (tmp_path / "open_clip_config.json").write_text("{}")
    with pytest.raises(WeightsNotFoundError, match="CLIP weights not found") as info:
        load_clip(str(tmp_path), device="cpu")
    assert str(tmp_path) in str(info.value)


def test_a_builtin_name_without_pretrained_tag_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="NAME@TAG"):
        load_clip("ViT-B-32", device="cpu")


def test_an_unknown_id_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="neither"):
        load_clip("no-such-clip-model", device="cpu")
