"""Every generated image is marked: a visible SYNTHETIC banner and PNG text metadata.

A synthetic radiograph must never pass for a real one, in Discord or after a download. The banner
is drawn into the pixels (it survives screenshots); the metadata says what made the image.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from engine.contract import DISCLAIMER, SYNTHETIC_LABEL
from engine.models.hub import HF_PREFIX, local_path

BANNER_FRACTION = 0.12  # of the image height
BANNER_MIN_PX = 10
BANNER_FILL = (176, 0, 32)  # deep red: unlike anything in a grey-scale radiograph
TEXT_FILL = (255, 255, 255)


def banner_box(size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the banner on an image of `size`: a band along the bottom edge."""
    width, height = size
    band = min(height, max(BANNER_MIN_PX, round(height * BANNER_FRACTION)))
    return 0, height - band, width, height


def stamp_synthetic(image: Image.Image, label: str = SYNTHETIC_LABEL) -> Image.Image:
    """A copy of `image` (RGB) with a red banner reading `label` across the bottom."""
    stamped = image.convert("RGB")  # always a copy
    draw = ImageDraw.Draw(stamped)
    left, top, right, bottom = banner_box(stamped.size)
    draw.rectangle((left, top, right - 1, bottom - 1), fill=BANNER_FILL)
    font = _font_fitting(draw, label, width=right - left, height=bottom - top)
    draw.text(((left + right) / 2, (top + bottom) / 2), label, fill=TEXT_FILL, font=font, anchor="mm")
    return stamped


def public_model_name(model_id: str) -> str:
    """How a model is named in what leaves the engine: a hub id as it is (`org/name`); a local directory
    only by its last folder name (`local:<name>`), never its path (it names the machine and its users)."""
    path = local_path(model_id)
    if path is None:
        return model_id.removeprefix(HF_PREFIX)
    name = path.name if path.name not in ("", ".", "..") else "model"
    return f"local:{name}"


def png_with_metadata(image: Image.Image, metadata: Mapping[str, object]) -> bytes:
    """`image` encoded as PNG with `synthetic=true`, the disclaimer and `metadata` as text chunks."""
    info = PngInfo()
    info.add_text("synthetic", "true")
    info.add_text("disclaimer", DISCLAIMER)
    for key, value in metadata.items():
        info.add_text(key, str(value))  # Pillow writes iTXt where the text is not Latin-1
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def _font_fitting(draw: ImageDraw.ImageDraw, label: str, *, width: int, height: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    size = max(6, int(height * 0.75))
    while True:
        font = ImageFont.load_default(size=size)
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        if (right - left <= width * 0.95 and bottom - top <= height) or size <= 6:
            return font
        size -= 1
