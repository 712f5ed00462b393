"""Streaming an LLM's words as it writes them: the growing completion → the new text to show.

Both generators (in-process, engine/models/llm.py; served, engine/models/remote_llm.py) know their
completion only as a growing text. `TextStream` turns each newer version into the text added since the
last one, as the finished completion would read: leading spaces dropped, nothing from Dolly's stop
marker on, and a tail that may still become that marker (`#`, `### E`) or that ends inside a character
(a byte-level tokenizer's `\\ufffd`) held back until the next token decides it.

The text is raw: markers are not checked yet (the pipelines check the finished answer). A failing
`on_text` is logged and switched off; it never stops the generation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from .base import END_KEY

log = logging.getLogger(__name__)

TextHook = Callable[[str], None]  # the text added since the last call; from the generating thread


class TextStream:
    """Feeds `on_text` with what each newer version of a completion adds."""

    def __init__(self, on_text: TextHook) -> None:
        self.on_text: TextHook | None = on_text
        self.sent = 0  # characters of the visible text already handed on
        self.ended = False

    def update(self, completion: str) -> None:
        """`completion` is the whole text written so far; hand on what it adds."""
        if self.on_text is None or self.ended:
            return
        head, marker, _ = completion.partition(END_KEY)
        if marker:
            self.ended = True
        else:
            head = _settled(head)
        visible = head.lstrip()
        if len(visible) <= self.sent:
            return
        delta, self.sent = visible[self.sent :], len(visible)
        try:
            self.on_text(delta)
        except Exception:  # a listener that breaks must not take the generation with it
            log.warning("a streamed-text listener failed; streaming stops, the generation goes on", exc_info=True)
            self.on_text = None


def _settled(text: str) -> str:
    """`text` without a tail the next tokens may still change: a partial character or a partial stop marker."""
    text = text.rstrip("\ufffd")
    for size in range(min(len(END_KEY) - 1, len(text)), 0, -1):
        if END_KEY.startswith(text[-size:]):
            return text[:-size]
    return text
