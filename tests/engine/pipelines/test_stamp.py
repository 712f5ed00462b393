import io

import numpy as np
from PIL import Image

from engine.pipelines.stamp import BANNER_FILL, banner_box, png_with_metadata, stamp_synthetic


def _grey(size=(96, 96)) -> Image.Image:
    return Image.new("RGB", size, (90, 90, 90))


def test_stamp_draws_a_visible_banner_with_text_and_leaves_the_rest_alone():
    image = _grey()
    stamped = stamp_synthetic(image)
    before, after = np.asarray(image), np.asarray(stamped)
    left, top, right, bottom = banner_box(image.size)
    band = after[top:bottom, left:right]
    assert (band != before[top:bottom, left:right]).any(axis=-1).mean() > 0.9  # the band is repainted
    assert (band == BANNER_FILL).all(axis=-1).mean() > 0.5  # mostly the banner colour ...
    assert (band.min(axis=-1) > 200).any()  # ... with white lettering on it
    np.testing.assert_array_equal(after[:top], before[:top])
    assert np.asarray(image).mean() == 90  # the input is not modified


def test_stamp_is_visible_on_tiny_and_wide_images():
    for size in [(16, 16), (300, 40), (512, 512)]:
        stamped = np.asarray(stamp_synthetic(_grey(size)))
        left, top, right, bottom = banner_box(size)
        assert bottom - top >= min(size[1], 10)
        assert (stamped[top:bottom] == BANNER_FILL).all(axis=-1).any()


def test_png_metadata_marks_the_image_synthetic_and_records_how_it_was_made():
    png = png_with_metadata(_grey(), {"model": "m", "prompt": "pneumothorax – left", "seed": 7, "steps": 4})
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.text["synthetic"] == "true"
    assert image.text["prompt"] == "pneumothorax – left"
    assert (image.text["model"], image.text["seed"], image.text["steps"]) == ("m", "7", "4")


def test_the_public_model_name_is_a_hub_id_or_a_folder_name_never_a_path(tmp_path):
    from engine.pipelines.stamp import public_model_name

    assert public_model_name("stabilityai/stable-diffusion-2-1") == "stabilityai/stable-diffusion-2-1"
    assert public_model_name("hf-hub:org/model") == "org/model"
    weights = tmp_path / "home" / "alice" / "weights" / "sd15"
    weights.mkdir(parents=True)
    for spelled in (str(weights), f"{weights}/", f"local-dir:{weights}", "~/alice-models/sd15", "./sd15"):
        assert public_model_name(spelled) == "local:sd15", spelled
    assert public_model_name("./") == "local:model"
