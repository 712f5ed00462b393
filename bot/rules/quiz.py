"""The quiz's rules, with no Discord and no database: its states, its choices, joining, locking in, hints,
and when to reveal.

One question is a `QuestionPlay`. Players join a group quiz by answering; the first question of a
group quiz therefore ends only on its timer (nobody knows yet who plays), and every later question
ends as soon as everyone who has joined so far has locked in, or on its timer. A solo quiz (a DM) ends
each question at the first answer.

The database holds the truth (one answer row per player and question, see `bot.store.answers`); a
`QuestionPlay` mirrors it in memory only to decide *when* to reveal. Points and FSRS ratings are
the store's too (`bot.store.scores`, `bot.store.cards`), written when a question is settled. The
states below are the values the store keeps in its `state` columns.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LETTERS = "ABCDE"


class QuizState(enum.StrEnum):
    """A quiz's life: running until its last reveal (finished) or the Stop button (stopped)."""

    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"


class QuestionState(enum.StrEnum):
    """A question takes answers while open; revealed once settled (or closed unscored by a stop)."""

    OPEN = "open"
    REVEALED = "revealed"


@dataclass(frozen=True)
class Choice:
    """One lettered answer: the text shown on the question, the whole text for the reveal, and the atlas
    item whose caption it is (caption quizzes; None for a modality)."""

    text: str
    full_text: str
    atlas_id: str | None = None
    # where that image comes from ({roco_id, pmc_id, licence}) and the engine path of its bytes, for the
    # reveal's contact sheet (caption quizzes; None on modality choices and rows from before them)
    source: Mapping[str, Any] | None = None
    image_url: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Choice:
        """A choice as the question's row keeps it (the engine's `QuizChoice` fields)."""
        text = str(data.get("text", ""))
        source = data.get("source")
        return cls(
            text, str(data.get("full_text") or text), data.get("id"),
            dict(source) if isinstance(source, Mapping) else None, data.get("image_url"),
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """The JSON kept in the question's `choices` column (the engine's field names)."""
        data: dict[str, Any] = {"text": self.text, "full_text": self.full_text, "id": self.atlas_id}
        if self.source is not None:
            data["source"] = dict(self.source)
        if self.image_url is not None:
            data["image_url"] = self.image_url
        return data


class QuestionClosedError(Exception):
    """A click arrived after the reveal."""


def letter(index: int) -> str:
    """The button letter of choice `index` (0 → A)."""
    if not 0 <= index < len(LETTERS):
        raise ValueError(f"choice index must be 0–{len(LETTERS) - 1}, got {index}")
    return LETTERS[index]


@dataclass
class QuestionPlay:
    """Who holds which answer and how many hints they took on one question, until it is revealed."""

    n_choices: int
    choices: dict[int, int] = field(default_factory=dict)  # user → choice index
    hints: dict[int, int] = field(default_factory=dict)  # user → rungs taken
    revealed: bool = False

    def __post_init__(self) -> None:
        if not 2 <= self.n_choices <= len(LETTERS):
            raise ValueError(f"n_choices must be 2–{len(LETTERS)}, got {self.n_choices}")

    def lock_in(self, user_id: int, choice: int) -> int | None:
        """Hold `choice` as the player's answer, replacing any earlier one (returned); refused after the reveal."""
        if self.revealed:
            raise QuestionClosedError("this question is closed")
        if not 0 <= choice < self.n_choices:
            raise ValueError(f"choice must be 0–{self.n_choices - 1}, got {choice}")
        previous = self.choices.get(user_id)
        self.choices[user_id] = choice
        return previous

    def next_hint(self, user_id: int, rungs: int) -> int | None:
        """The rung (1-based) the player's next hint would be, or None when they have had them all."""
        if self.revealed:
            raise QuestionClosedError("this question is closed")
        taken = self.hints.get(user_id, 0)
        return taken + 1 if taken < rungs else None

    def took_hint(self, user_id: int, level: int) -> None:
        """Remember that the player reached rung `level` (hints only climb)."""
        self.hints[user_id] = max(self.hints.get(user_id, 0), level)

    @property
    def answered(self) -> set[int]:
        """Players holding an answer."""
        return set(self.choices)

    def should_reveal(self, joined: set[int], *, solo: bool, first: bool) -> bool:
        """Whether to reveal now, before the timer (see the module docstring)."""
        if self.revealed or not self.choices:
            return False
        if solo:
            return True
        if first:
            return False
        return joined <= self.answered

    def forget(self, user_id: int) -> None:
        """Drop a player's answer and hints (they used forget-me)."""
        self.choices.pop(user_id, None)
        self.hints.pop(user_id, None)

    def close(self) -> None:
        """No more answers or hints: the question is being revealed."""
        self.revealed = True
