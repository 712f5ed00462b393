"""A generated picture keeps its SYNTHETIC PNG text chunks through every fitting the bot does (also the
refit after Discord refuses an upload as too large); a real image is still shrunk as JPEG."""

from __future__ import annotations

import io

from PIL import Image

from bot.render.images import fit_images, png_text
from engine.pipelines.stamp import png_with_metadata, stamp_synthetic

from .engine_standin import png_bytes


def _noise(size: int) -> Image.Image:
    return Image.open(io.BytesIO(png_bytes((size, size), noise=True)))


def test_a_marked_png_over_its_share_is_shrunk_as_a_png_with_the_same_chunks():
    marked = png_with_metadata(stamp_synthetic(_noise(400)), {"model": "org/m", "prompt": "ct – brain", "seed": 3})
    (fitted,) = fit_images([("synthetic", marked, "alt")], upload_limit=120_000)
    assert fitted is not None and fitted.filename == "synthetic.png" and len(fitted.data) < 120_000
    assert png_text(fitted.data) == png_text(marked)
    assert png_text(fitted.data)["synthetic"] == "true" and png_text(fitted.data)["prompt"] == "ct – brain"


def test_an_unmarked_image_over_its_share_still_becomes_a_jpeg():
    buffer = io.BytesIO()
    _noise(400).save(buffer, format="PNG")
    (fitted,) = fit_images([("real", buffer.getvalue(), None)], upload_limit=120_000)
    assert fitted is not None and fitted.filename == "real.jpg" and png_text(fitted.data) == {}


def test_png_text_is_empty_for_what_is_not_a_png():
    assert png_text(b"") == {} and png_text(b"\xff\xd8\xff garbage") == {}
    assert png_text(b"\x89PNG\r\n\x1a\n truncated") == {}
