"""Fit answers into Discord's limits: text chunks, short filenames, images that fit the upload limit.

Pure functions over text and Pillow images; nothing here talks to Discord or the engine.
"""

from __future__ import annotations

import io
import logging
import re
import textwrap
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageOps
from PIL.PngImagePlugin import PngInfo

from engine.contract import IMAGE_MAX_PIXELS

from . import fonts

# Re-exported: the flows read the message limit and the hard trim here, beside the other limits.
from .lines import MESSAGE_MAX_CHARS as MESSAGE_MAX_CHARS
from .lines import trim as trim

log = logging.getLogger(__name__)

EMBED_DESCRIPTION_MAX = 4096
EMBED_TITLE_MAX = 256
THREAD_NAME_MAX = 100
MAX_FILES = 10
FILENAME_STEM_MAX = 32
# The upload limit covers the whole request; keep room for the multipart envelope and the text.
UPLOAD_HEADROOM = 0.92
MIN_SIDE = 48


@dataclass(frozen=True)
class ImageFile:
    """An image ready to attach: a short filename and bytes that fit the budget."""

    filename: str
    data: bytes
    description: str | None = None  # alt text shown by Discord


# --- text ------------------------------------------------------------------------------
def split_text(text: str, limit: int = MESSAGE_MAX_CHARS) -> list[str]:
    """Split `text` into chunks of at most `limit` characters, at paragraph, line or word breaks."""
    chunks: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"))
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 2:
            cut = limit  # one very long word: cut it
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks


def short_filename(stem: str, ext: str) -> str:
    """A short, safe attachment name: `ROCO_00020` + `jpg` → `roco_00020.jpg`."""
    clean = re.sub(r"[^a-z0-9_-]+", "_", stem.lower()).strip("_") or "image"
    return f"{clean[:FILENAME_STEM_MAX]}.{ext}"


# --- images ----------------------------------------------------------------------------
def open_image(data: bytes) -> Image.Image:
    """Decode image bytes, refusing decompression bombs with a clear error."""
    try:
        image = Image.open(io.BytesIO(data))
    except Exception as error:  # Pillow raises several types for undecodable data
        raise ValueError(f"not an image Pillow can read: {error}") from error
    if image.width * image.height > IMAGE_MAX_PIXELS:
        raise ValueError(f"image has {image.width}×{image.height} pixels; the limit is {IMAGE_MAX_PIXELS:,}")
    image.load()
    return ImageOps.exif_transpose(image)


def encode_to_fit(image: Image.Image, max_bytes: int) -> tuple[bytes, str]:
    """Encode as JPEG (lower quality, then smaller) until it fits `max_bytes`; returns (bytes, ext)."""
    rgb = image.convert("RGB")
    while True:
        for quality in (90, 80, 70, 60, 50):
            buffer = io.BytesIO()
            rgb.save(buffer, format="JPEG", quality=quality, optimize=True)
            if buffer.tell() <= max_bytes:
                return buffer.getvalue(), "jpg"
        if min(rgb.size) <= MIN_SIDE:
            raise ValueError(f"cannot fit an image into {max_bytes} bytes")
        new_size = (max(MIN_SIDE, int(rgb.width * 0.7)), max(MIN_SIDE, int(rgb.height * 0.7)))
        rgb = rgb.resize(new_size, Image.Resampling.LANCZOS)


def fit_images(images: list[tuple[str, bytes, str | None]], upload_limit: int) -> list[ImageFile | None]:
    """Images whose bytes together fit `upload_limit`, with short unique names, aligned with the input.

    `images` are (stem, bytes, alt text). Originals are kept when they already fit their share; an entry
    is None when it is beyond MAX_FILES or cannot be decoded. A PNG marked `synthetic` by its text chunks
    is made smaller as a PNG with the same chunks, never re-encoded as JPEG (which would lose them).
    """
    kept = images[:MAX_FILES]
    out: list[ImageFile | None] = [None] * len(images)
    if not kept:
        return out
    share = int(upload_limit * UPLOAD_HEADROOM) // len(kept)
    used: set[str] = set()
    for i, (stem, data, description) in enumerate(kept):
        if not data:
            continue
        kind = _kind(data)
        try:
            if kind is not None and len(data) <= share:
                payload, ext = data, kind
            elif (chunks := png_text(data)).get("synthetic"):  # a generated image stays a marked PNG
                payload, ext = fit_marked_png(open_image(data), chunks, share), "png"
            else:
                payload, ext = encode_to_fit(open_image(data), share)
        except ValueError:
            log.warning("dropping image %s: cannot decode or fit it", stem, exc_info=True)
            continue
        name = short_filename(stem, ext)
        n = 2
        while name in used:
            name = short_filename(f"{stem[: FILENAME_STEM_MAX - 3]}_{n}", ext)
            n += 1
        used.add(name)
        out[i] = ImageFile(name, payload, trim(description, 1024) if description else None)
    return out


def png_text(data: bytes) -> dict[str, str]:
    """The text chunks (tEXt, zTXt, iTXt) of a PNG, e.g. a generated image's `synthetic=true`; {} for
    anything else, undecodable bytes included."""
    if _kind(data) != "png":
        return {}
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # chunks after the image data are read only by load()
            return {str(key): str(value) for key, value in getattr(image, "text", {}).items()}
    except Exception:  # Pillow raises several types for broken data; no chunks is the honest answer
        log.warning("could not read the PNG text chunks", exc_info=True)
        return {}


def marked_png(image: Image.Image, chunks: dict[str, str]) -> bytes:
    """`image` encoded as PNG with `chunks` as its text chunks."""
    info = PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)  # Pillow writes iTXt where the text is not Latin-1
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, optimize=False)
    return buffer.getvalue()


def fit_marked_png(image: Image.Image, chunks: dict[str, str], max_bytes: int) -> bytes:
    """`image` as PNG carrying `chunks` as text chunks, made smaller until it fits `max_bytes`.

    Never JPEG: JPEG has no PNG text chunks, and a generated image must keep its SYNTHETIC metadata.
    """
    rgb = image.convert("RGB")
    while True:
        data = marked_png(rgb, chunks)
        if len(data) <= max_bytes:
            return data
        if min(rgb.size) <= MIN_SIDE:
            raise ValueError(f"cannot fit a marked PNG into {max_bytes} bytes")
        new_size = (max(MIN_SIDE, int(rgb.width * 0.7)), max(MIN_SIDE, int(rgb.height * 0.7)))
        rgb = rgb.resize(new_size, Image.Resampling.LANCZOS)


def _kind(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    return None


def side_by_side(
    left: Image.Image,
    right: Image.Image,
    *,
    left_title: str,
    right_title: str,
    left_caption: str = "",
    right_caption: str = "",
    height: int = 512,
) -> Image.Image:
    """Two images at the same height, each with a bold title above and its caption below."""
    panels = [_fit_height(left, height), _fit_height(right, height)]
    panel_w = max(p.width for p in panels)
    font, title_font = fonts.font(18), fonts.font(22)
    pad = 16
    wrap = max(20, int(panel_w / max(1.0, font.getlength("n"))))
    captions = [_wrap(left_caption, wrap), _wrap(right_caption, wrap)]
    line_h = 24
    caption_h = line_h * max(len(c) for c in captions)
    title_h = 34
    width = 2 * panel_w + 3 * pad
    total_h = pad + title_h + height + pad + caption_h + pad
    canvas = Image.new("RGB", (width, total_h), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (panel, title, lines) in enumerate(zip(panels, (left_title, right_title), captions, strict=True)):
        x = pad + i * (panel_w + pad)
        draw.text((x, pad), trim(title, wrap), fill="black", font=title_font)
        canvas.paste(panel, (x + (panel_w - panel.width) // 2, pad + title_h))
        for j, line in enumerate(lines):
            draw.text((x, pad + title_h + height + pad + j * line_h), line, fill=(40, 40, 40), font=font)
    return canvas


def _fit_height(image: Image.Image, height: int) -> Image.Image:
    rgb = image.convert("RGB")
    scale = min(height / rgb.height, 2 * height / rgb.width)  # very wide images get shorter, not squashed
    return rgb.resize(
        (max(1, int(rgb.width * scale)), max(1, int(rgb.height * scale))), Image.Resampling.LANCZOS
    )


def _wrap(text: str, width: int, max_lines: int = 6) -> list[str]:
    lines = textwrap.wrap(text, width=width) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = trim(lines[-1] + " …", width)
    return lines
