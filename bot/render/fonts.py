"""The font the bot draws pictures with: one of wide coverage, shipped by a Python package.

ROCO captions hold μ, °, ×, ±, ≥, →, Greek and accented letters, and a query may be in any script;
Pillow's built-in font covers little beyond ASCII and draws the rest as empty boxes. Noto Sans CJK
covers Latin, Greek, Cyrillic, mathematical signs, arrows and CJK in one file; the bot's install
brings it (`cvttf-notosanscjk-regular`). It is found at run time; without it a system font is tried,
and as a last resort Pillow's own font is used with a warning saying what will look wrong.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from pathlib import Path

from PIL import ImageFont

log = logging.getLogger(__name__)

FONT_PACKAGE = "cvttf_NotoSansCJK_Regular"  # PyPI: cvttf-notosanscjk-regular
FONT_SUFFIXES = (".otf", ".ttf", ".ttc")
# Debian's fonts-noto-cjk and fonts-dejavu-core, for installs without the package.
SYSTEM_FONTS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
)
MISSING_FONT_WARNING = (
    "no wide-coverage font found (install the bot extra, which brings cvttf-notosanscjk-regular); "
    "pictures use Pillow's built-in font, which draws symbols such as − μ ≥ → and CJK as empty boxes"
)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _package_font() -> Path | None:
    """The font file inside the font package, located without importing it."""
    spec = importlib.util.find_spec(FONT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for path in sorted(Path(folder).iterdir()):
            if path.suffix.lower() in FONT_SUFFIXES:
                return path
    return None


@functools.cache
def font_path() -> Path | None:
    """The wide-coverage font file to draw with, or None (warned once) when there is none."""
    for candidate in (_package_font(), *SYSTEM_FONTS):
        if candidate is not None and candidate.is_file():
            log.debug("drawing pictures with %s", candidate)
            return candidate
    log.warning(MISSING_FONT_WARNING)
    return None


@functools.cache
def font(size: int) -> Font:
    """The drawing font at `size` pixels (cached: loading a CJK font takes a few milliseconds)."""
    path = font_path()
    if path is not None:
        try:
            return ImageFont.truetype(str(path), size)
        except OSError:
            log.warning("cannot load the font %s; %s", path, MISSING_FONT_WARNING, exc_info=True)
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()
