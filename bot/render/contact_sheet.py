"""The reveal's contact sheet: every choice's atlas image in one picture, each panel labelled with its
letter and its source line, the right one framed and marked, so the group sees what the other captions'
images look like. Pure CPU work (Pillow): run it in a thread (`asyncio.to_thread`).

The PNG carries which letters it shows (`MIRAGE-panels`, `MIRAGE-right` text chunks), so a reader can
tell the panels apart without looking.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from .fonts import Font, font

log = logging.getLogger(__name__)

PANEL = 320  # pixels a side of each image
LABEL_H = 64  # the band under each image: letter and source
GAP = 12
COLUMNS = 3
BACKGROUND = (24, 26, 30)
TEXT = (235, 235, 235)
MUTED = (170, 175, 185)
RIGHT = (46, 204, 113)
FRAME = 6
FILENAME = "reveal-choices.png"


@dataclass(frozen=True)
class Panel:
    """One choice: its letter, its image's bytes (None: could not be fetched), its source, whether right."""

    letter: str
    image: bytes | None
    source: str
    right: bool = False


def _fit_text(draw: ImageDraw.ImageDraw, text: str, face: Font, width: int) -> str:
    """`text` cut with … to fit `width` pixels."""
    if draw.textlength(text, font=face) <= width:
        return text
    while text and draw.textlength(text + "…", font=face) > width:
        text = text[:-1]
    return text + "…"


def _thumbnail(data: bytes | None) -> Image.Image:
    """The panel's image letterboxed into PANEL×PANEL (a grey square when missing or unreadable)."""
    square = Image.new("RGB", (PANEL, PANEL), (60, 62, 68))
    if data is None:
        return square
    try:
        with Image.open(io.BytesIO(data)) as source:
            image = source.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError):
        log.warning("an image of the contact sheet could not be read; drawing a blank panel")
        return square
    image.thumbnail((PANEL, PANEL))
    square.paste(image, ((PANEL - image.width) // 2, (PANEL - image.height) // 2))
    return square


def contact_sheet_png(panels: Sequence[Panel]) -> bytes:
    """Every panel in rows of up to COLUMNS, labelled, the right one framed in green with ✓."""
    if not panels:
        raise ValueError("a contact sheet needs at least one panel")
    columns = min(COLUMNS, len(panels))
    rows = -(-len(panels) // columns)
    cell_w, cell_h = PANEL + GAP, PANEL + LABEL_H + GAP
    sheet = Image.new("RGB", (columns * cell_w + GAP, rows * cell_h + GAP), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    big, small = font(34), font(15)
    for index, panel in enumerate(panels):
        x = GAP + (index % columns) * cell_w
        y = GAP + (index // columns) * cell_h
        if panel.right:
            draw.rectangle((x - FRAME, y - FRAME, x + PANEL + FRAME - 1, y + PANEL + LABEL_H - 1), fill=RIGHT)
        sheet.paste(_thumbnail(panel.image), (x, y))
        label_y = y + PANEL + 4
        mark = f"{panel.letter} ✓" if panel.right else panel.letter
        draw.text((x + 4, label_y), mark, font=big, fill=BACKGROUND if panel.right else TEXT)
        source = _fit_text(draw, panel.source, small, PANEL - 70)
        draw.text((x + 66, label_y + 14), source, font=small, fill=BACKGROUND if panel.right else MUTED)
    info = PngInfo()
    info.add_text("MIRAGE-panels", ",".join(p.letter for p in panels))
    info.add_text("MIRAGE-right", ",".join(p.letter for p in panels if p.right))
    out = io.BytesIO()
    sheet.save(out, format="PNG", pnginfo=info)
    return out.getvalue()
