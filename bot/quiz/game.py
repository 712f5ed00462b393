"""The quiz's rules, with no Discord and no database: locking in, hints, when to reveal, points, ratings.

One question is a `QuestionPlay`. Players join a group quiz by answering; the first question of a
group quiz therefore ends only on its timer (nobody knows yet who plays), and every later question
ends as soon as everyone who has joined so far has locked in, or on its timer. A solo quiz (a DM) ends
each question at the first answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fsrs import Rating

LETTERS = "ABCDE"
POINTS_RIGHT = 10
HINT_COST = 3  # per rung of the hint ladder taken before answering
POINTS_RIGHT_MIN = 1  # a right answer is worth something however many hints it took


class QuestionClosedError(Exception):
    """A click arrived after the reveal."""


def letter(index: int) -> str:
    """The button letter of choice `index` (0 → A)."""
    if not 0 <= index < len(LETTERS):
        raise ValueError(f"choice index must be 0–{len(LETTERS) - 1}, got {index}")
    return LETTERS[index]


def points_for(correct: bool, hint_level: int) -> int:
    """Points for one answer: POINTS_RIGHT for a right one, less HINT_COST per hint; nothing when wrong."""
    if not correct:
        return 0
    return max(POINTS_RIGHT_MIN, POINTS_RIGHT - HINT_COST * hint_level)


def rating_for(correct: bool, hint_level: int) -> Rating:
    """The FSRS rating an answer earns: wrong → Again, right with a hint → Hard, right → Good."""
    if not correct:
        return Rating.Again
    return Rating.Hard if hint_level > 0 else Rating.Good


@dataclass(frozen=True)
class LockIn:
    """What a click did: the choice now held, and the one it replaced (None on a first answer)."""

    choice: int
    previous: int | None

    @property
    def changed(self) -> bool:
        """The player switched from another answer."""
        return self.previous is not None and self.previous != self.choice


@dataclass(frozen=True)
class Outcome:
    """One player's result on one question."""

    user_id: int
    choice: int
    hint_level: int
    correct: bool
    points: int
    rating: Rating


@dataclass
class QuestionPlay:
    """The answers and hints on one question, until it is revealed."""

    answer_index: int
    n_choices: int
    choices: dict[int, int] = field(default_factory=dict)  # user → choice index
    hints: dict[int, int] = field(default_factory=dict)  # user → rungs taken
    revealed: bool = False

    def __post_init__(self) -> None:
        if not 2 <= self.n_choices <= len(LETTERS):
            raise ValueError(f"n_choices must be 2–{len(LETTERS)}, got {self.n_choices}")
        if not 0 <= self.answer_index < self.n_choices:
            raise ValueError(f"answer_index must be 0–{self.n_choices - 1}, got {self.answer_index}")

    def lock_in(self, user_id: int, choice: int) -> LockIn:
        """Hold `choice` as the player's answer (a later click replaces it); refused after the reveal."""
        if self.revealed:
            raise QuestionClosedError("this question is closed")
        if not 0 <= choice < self.n_choices:
            raise ValueError(f"choice must be 0–{self.n_choices - 1}, got {choice}")
        previous = self.choices.get(user_id)
        self.choices[user_id] = choice
        return LockIn(choice, previous)

    def take_hint(self, user_id: int, rungs: int) -> int | None:
        """Give the player the next rung (its 1-based number), or None when they have had them all."""
        if self.revealed:
            raise QuestionClosedError("this question is closed")
        taken = self.hints.get(user_id, 0)
        if taken >= rungs:
            return None
        self.hints[user_id] = taken + 1
        return taken + 1

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

    def reveal(self) -> list[Outcome]:
        """Close the question and score it: one outcome per player who answered, best first."""
        self.revealed = True
        outcomes = []
        for user_id, choice in self.choices.items():
            level = self.hints.get(user_id, 0)
            correct = choice == self.answer_index
            outcomes.append(
                Outcome(user_id, choice, level, correct, points_for(correct, level), rating_for(correct, level))
            )
        return sorted(outcomes, key=lambda o: (-o.points, o.user_id))


@dataclass(frozen=True)
class Standing:
    """A player's line on a scoreboard."""

    user_id: int
    points: int
    right: int
    answered: int


def scoreboard(outcomes: list[Outcome]) -> list[Standing]:
    """Totals over any number of questions' outcomes, most points first (ties: more right, then id)."""
    points: dict[int, int] = {}
    right: dict[int, int] = {}
    answered: dict[int, int] = {}
    for outcome in outcomes:
        uid = outcome.user_id
        points[uid] = points.get(uid, 0) + outcome.points
        right[uid] = right.get(uid, 0) + int(outcome.correct)
        answered[uid] = answered.get(uid, 0) + 1
    standings = [Standing(uid, points[uid], right[uid], answered[uid]) for uid in points]
    return sorted(standings, key=lambda s: (-s.points, -s.right, s.user_id))
