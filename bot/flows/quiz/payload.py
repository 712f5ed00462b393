"""What a quiz question keeps in its database row: the hint ladder and the asked atlas item.

With it, a bot that restarted mid-question gives the same hints and reveals the same caption and
source without asking the engine again (whose atlas may have changed since the question was asked).
Questions asked before revision 0003 have no payload; for them the flow still asks the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from engine.contract import Hit, QuizHint, QuizResponse

log = logging.getLogger(__name__)

# The item's fields a reveal shows (id, caption, source, modality), plus the two `Hit` requires.
ITEM_FIELDS = {"id", "caption", "source", "modality", "image_url", "score"}


@dataclass(frozen=True)
class AskedQuestion:
    """The hints and the item of the question being played (from the engine, or from its row)."""

    hints: list[str]
    item: Hit
    ladder: list[QuizHint] = field(default_factory=list)  # the rungs' kinds and struck choices
    points_by_hints: list[int] = field(default_factory=list)  # the engine's points rule for this question

    @classmethod
    def from_response(cls, response: QuizResponse) -> AskedQuestion:
        """What the engine's question asked."""
        return cls(list(response.hints), response.item, list(response.hint_ladder), list(response.points_by_hints))

    def to_payload(self) -> dict[str, Any]:
        """The JSON kept in the question's `payload` column."""
        return {
            "hints": list(self.hints),
            "item": self.item.model_dump(mode="json", include=ITEM_FIELDS),
            "ladder": [rung.model_dump(mode="json") for rung in self.ladder],
            "points_by_hints": list(self.points_by_hints),
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any] | None) -> AskedQuestion | None:
        """The question's row payload read back; None when there is none or it cannot be read."""
        if payload is None:
            return None
        try:
            hints = payload["hints"]
            if not isinstance(hints, list) or not all(isinstance(h, str) for h in hints):
                raise TypeError(f"hints must be a list of strings, got {hints!r}")
            ladder = [QuizHint.model_validate(rung) for rung in payload.get("ladder") or []]
            points = [int(p) for p in payload.get("points_by_hints") or []]
            return cls(hints, Hit.model_validate(payload["item"]), ladder, points)
        except (KeyError, TypeError, ValueError, ValidationError):
            # Never fatal: the flow falls back to the engine as for a question without a payload.
            log.warning("unreadable quiz question payload; asking the engine instead", exc_info=True)
            return None
