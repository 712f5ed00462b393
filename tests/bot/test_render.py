"""Discord's limits: 2,000-character messages, short names, ≤10 files that fit the upload limit."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.render.images import (
    MAX_FILES,
    MESSAGE_MAX_CHARS,
    encode_to_fit,
    fit_images,
    open_image,
    short_filename,
    side_by_side,
    split_text,
    trim,
)
from bot.render.text import HELP_TEXT
from bot.ui.commands import MirageCommands
from bot.ui.quiz_commands import add_commands

from .engine_standin import png_bytes


def test_split_text_keeps_every_word_and_prefers_line_breaks():
    text = "\n".join(f"line {i} " + "word " * 30 for i in range(40))
    chunks = split_text(text, 2000)
    assert all(len(c) <= 2000 for c in chunks) and len(chunks) > 1
    assert all(c.startswith("line ") for c in chunks)  # cut at line breaks, not mid-line
    assert " ".join(chunks).split() == text.split()


def test_split_text_cuts_a_word_longer_than_the_limit():
    chunks = split_text("x" * 4500, 2000)
    assert [len(c) for c in chunks] == [2000, 2000, 500]


def test_trim_marks_the_cut():
    assert trim("abcdef", 4) == "abc…" and trim("abc", 4) == "abc"


def test_short_filenames_are_safe_and_short():
    name = short_filename("Best ROCO/../../etc passwd " + "z" * 80, "jpg")
    assert name.endswith(".jpg") and len(name) <= 36 and "/" not in name and " " not in name


def test_fit_images_respects_the_limit_the_file_count_and_unique_names():
    noisy = png_bytes((300, 300), noise=True)  # ~270 KB
    images = [("same", noisy, f"caption {i}") for i in range(12)]
    fitted = fit_images(images, upload_limit=400_000)

    files = [f for f in fitted if f is not None]
    assert len(files) == MAX_FILES and fitted[10:] == [None, None]
    assert sum(len(f.data) for f in files) <= 400_000
    assert len({f.filename for f in files}) == MAX_FILES
    assert all(Image.open(io.BytesIO(f.data)).format == "JPEG" for f in files)
    assert files[3].description == "caption 3"


def test_small_images_are_kept_as_they_are():
    small = png_bytes((32, 32))
    (file,) = fit_images([("a", small, None)], upload_limit=10_000_000)
    assert file is not None and file.data == small and file.filename == "a.png"


def test_an_undecodable_image_is_dropped_not_fatal():
    fitted = fit_images(
        [("bad", b"not an image at all" * 100, None), ("ok", png_bytes(), None)], upload_limit=1000
    )
    assert fitted[0] is None and fitted[1] is not None


def test_encode_to_fit_downscales_when_quality_is_not_enough():
    image = open_image(png_bytes((600, 600), noise=True))
    data, ext = encode_to_fit(image, 20_000)
    assert ext == "jpg" and len(data) <= 20_000
    assert max(Image.open(io.BytesIO(data)).size) < 600


def test_open_image_refuses_garbage_with_a_clear_error():
    with pytest.raises(ValueError, match="not an image"):
        open_image(b"\x00\x01")


def test_side_by_side_puts_both_images_and_captions_in_one_picture():
    left, right = Image.new("RGB", (100, 200), "red"), Image.new("RGB", (300, 100), "blue")
    picture = side_by_side(
        left, right, left_title="L", right_title="R", left_caption="a " * 200, right_caption="b"
    )
    assert picture.width > picture.height
    assert picture.getpixel((picture.width // 4, 200)) == (255, 0, 0)  # left panel
    assert picture.getpixel((3 * picture.width // 4, 200)) == (0, 0, 255)  # right panel


def test_help_names_every_subcommand_with_an_example_and_fits_one_discord_message():
    group = MirageCommands()
    add_commands(group)
    names = {command.name for command in group.commands}
    assert {"search", "compare", "generate", "ask", "quiz", "review", "progress", "scores", "forget-me"} <= names
    for name in names - {"help"}:
        assert f"`/mirage {name}" in HELP_TEXT, name
    for name in ("search", "compare", "generate", "ask", "quiz"):  # the ones with options show them in use
        assert f"e.g. `/mirage {name} " in HELP_TEXT, name
    assert len(HELP_TEXT) <= MESSAGE_MAX_CHARS == 2000
    assert "For education, not diagnosis." in HELP_TEXT
