"""Pictures draw what captions say: symbols, Greek, accents and CJK come out as glyphs, never empty boxes."""

from __future__ import annotations

import logging

import pytest
from PIL import Image, ImageChops

from bot.render import fonts
from bot.render.images import side_by_side

# What ROCO captions and study-group queries hold (the minus sign is U+2212, not a hyphen).
HARD_TEXT = "− μ ° × ± ≥ → α β é ü 超"
# A private-use code point no font maps: whatever a font draws for it is its missing-glyph box (.notdef).
NO_GLYPH = "\U000f0000"


def _picture(title: str, caption: str) -> Image.Image:
    panel = Image.new("RGB", (64, 64), "gray")
    return side_by_side(panel, panel, left_title=title, right_title=title, left_caption=caption,
                        right_caption=caption, height=64)


def _differs(a: Image.Image, b: Image.Image) -> bool:
    return ImageChops.difference(a, b).getbbox() is not None


@pytest.mark.parametrize("where", ["title", "caption"])
@pytest.mark.parametrize("char", HARD_TEXT.split())
def test_every_character_is_drawn_as_itself_not_as_a_missing_glyph_box(char, where):
    # The compare picture and the generate picture (synthetic beside nearest real) are both drawn by
    # side_by_side: titles in one size, captions in another. A character the font lacks is drawn as the
    # .notdef box, exactly like a code point no font has.
    def draw(text: str) -> Image.Image:
        return _picture(text, "x") if where == "title" else _picture("x", text)

    boxed = draw(NO_GLYPH)
    drawn = draw(char)
    assert _differs(drawn, boxed), f"{char!r} (U+{ord(char):04X}) is drawn as an empty box in the {where}"
    assert _differs(drawn, draw(" ")), f"{char!r} left no ink in the {where}"


def test_the_font_comes_from_the_installed_package():
    path = fonts.font_path()
    assert path is not None and path.is_file()
    assert fonts.FONT_PACKAGE in str(path)


def test_without_any_wide_font_pictures_still_draw_and_the_operator_is_warned(monkeypatch, caplog):
    monkeypatch.setattr(fonts, "FONT_PACKAGE", "no_such_font_package")
    monkeypatch.setattr(fonts, "SYSTEM_FONTS", ())
    fonts.font_path.cache_clear()
    fonts.font.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="bot.render.fonts"):
            picture = _picture(HARD_TEXT, HARD_TEXT)
        assert picture.width > 128
        assert "no wide-coverage font found" in caplog.text and "cvttf-notosanscjk-regular" in caplog.text
    finally:
        fonts.font_path.cache_clear()
        fonts.font.cache_clear()
