"""One item's image: read, refuse what is unsafe or broken, decode, preprocess, and shrink a copy.

Runs in worker threads (PIL releases the GIL while decoding and resizing). Never raises on bad
data: the result is either a `PreparedImage` or a `SourceProblem` naming what was wrong.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from engine.atlas.items import (
    CORRUPT_IMAGE,
    DECOMPRESSION_BOMB,
    IMAGE_TOO_LARGE,
    MISSING_IMAGE,
    AtlasItem,
    SourceProblem,
)

# Largest CLIP input we decode for (the real model is 448 px); JPEGs are DCT-decoded no smaller.
DRAFT_MIN_SIDE = 448
# An original JPEG this small (and within the side limit) is stored as is, not re-encoded.
REUSE_JPEG_MAX_BYTES = 120_000
THUMB_QUALITY = 85
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


@dataclass(frozen=True)
class ImageLimits:
    """What an image may be: decoded pixels, bytes on disk, and the side of the stored copy."""

    max_pixels: int = 40_000_000
    max_bytes: int = 64 * 1024 * 1024
    thumb_max_side: int = 512


@dataclass
class PreparedImage:
    """A decoded item: `pixels` (preprocessed tensor) when the encoder takes them, else the RGB `image`."""

    item: AtlasItem
    pixels: Any | None
    image: Image.Image | None
    jpeg_b64: str


def prepare(item: AtlasItem, limits: ImageLimits,
            preprocess: Callable[[Image.Image], Any] | None) -> PreparedImage | SourceProblem:
    """Decode and check one item's image; a SourceProblem (missing/corrupt/bomb/too large) if unusable."""
    data = _read(item, limits)
    if isinstance(data, SourceProblem):
        return data
    try:
        img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        return SourceProblem(item.atlas_id, DECOMPRESSION_BOMB, str(e))
    except UnidentifiedImageError:
        return SourceProblem(item.atlas_id, CORRUPT_IMAGE, f"not an image PIL can read ({len(data)} bytes)")
    except Exception as e:  # PIL raises many types for undecodable data; all mean "corrupt"
        return SourceProblem(item.atlas_id, CORRUPT_IMAGE, f"{type(e).__name__}: {e}")
    width, height = img.size
    if width * height > limits.max_pixels:
        return SourceProblem(item.atlas_id, IMAGE_TOO_LARGE,
                             f"{width}x{height} = {width * height} pixels > max_pixels {limits.max_pixels}")
    try:
        return _decode(item, img, data, limits, preprocess)
    except Exception as e:  # truncated or otherwise broken pixel data shows only when decoding
        return SourceProblem(item.atlas_id, CORRUPT_IMAGE, f"{type(e).__name__}: {e}")


def _read(item: AtlasItem, limits: ImageLimits) -> bytes | SourceProblem:
    if item.image_bytes is not None:
        data = item.image_bytes
    elif item.image_path is not None:
        try:
            size = item.image_path.stat().st_size
            if size > limits.max_bytes:
                return SourceProblem(item.atlas_id, IMAGE_TOO_LARGE,
                                     f"{item.image_path}: {size} bytes > max_bytes {limits.max_bytes}")
            data = item.image_path.read_bytes()
        except FileNotFoundError:
            return SourceProblem(item.atlas_id, MISSING_IMAGE, f"{item.image_path} does not exist")
        except OSError as e:
            return SourceProblem(item.atlas_id, MISSING_IMAGE, f"{item.image_path}: {e}")
    else:
        return SourceProblem(item.atlas_id, MISSING_IMAGE, "the source row has no image")
    if not data:
        return SourceProblem(item.atlas_id, CORRUPT_IMAGE, "the image is empty (0 bytes)")
    if len(data) > limits.max_bytes:
        return SourceProblem(item.atlas_id, IMAGE_TOO_LARGE, f"{len(data)} bytes > max_bytes {limits.max_bytes}")
    return data


def _decode(item: AtlasItem, img: Image.Image, data: bytes, limits: ImageLimits,
            preprocess: Callable[[Image.Image], Any] | None) -> PreparedImage:
    original_size, original_format, original_mode = img.size, img.format, img.mode
    side = max(limits.thumb_max_side, DRAFT_MIN_SIDE)
    if original_format == "JPEG":
        img.draft(img.mode, (side, side))  # decode at 1/2..1/8 scale when the file is much larger
    img.load()
    rgb = img.convert("RGB")
    reuse = (original_format == "JPEG" and original_mode in ("L", "RGB")
             and max(original_size) <= limits.thumb_max_side and len(data) <= REUSE_JPEG_MAX_BYTES)
    jpeg = data if reuse else _shrunk_jpeg(img if img.mode in GRAY_MODES else rgb, limits.thumb_max_side)
    pixels = preprocess(rgb) if preprocess is not None else None
    return PreparedImage(item=item, pixels=pixels, image=None if preprocess else rgb,
                         jpeg_b64=base64.b64encode(jpeg).decode("ascii"))


def _shrunk_jpeg(img: Image.Image, max_side: int) -> bytes:
    """A JPEG copy with its longer side at most `max_side` (grey images stay one channel)."""
    copy = img.convert("L") if img.mode in GRAY_MODES else img.copy()
    copy.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    copy.save(out, format="JPEG", quality=THUMB_QUALITY, optimize=True)
    return out.getvalue()
