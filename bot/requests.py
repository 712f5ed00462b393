"""What a user asked for, as small typed requests.

Slash commands, buttons, modals and mentions only build one of these and hand it to the services of
the client that received it (`interaction.client.services.handle`); the flows turn it into engine
calls, database writes and a reply. Nothing here talks to Discord or the engine.

Some look alike (`SearchText` and `MoreResults` both carry a query and a modality) but stay apart: each
is one thing a user did, and the services pick the flow by its type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .set_requests import SetAction


@dataclass(frozen=True)
class SearchText:
    """/mirage search by text: explanation, best image and first-pass hits."""

    query: str
    k: int
    modality: str | None = None


@dataclass(frozen=True)
class SearchImage:
    """/mirage search by an uploaded image (`attachment` is a discord.Attachment)."""

    attachment: Any
    k: int
    text_ignored: bool = False


@dataclass(frozen=True)
class MoreResults:
    """The next page of hits for a text query."""

    query: str
    shown: int
    modality: str | None = None


@dataclass(frozen=True)
class SimilarTo:
    """'Use this as a query': atlas images near one atlas image."""

    atlas_id: str


@dataclass(frozen=True)
class Compare:
    """/mirage compare: base − subtract + add."""

    base: str
    subtract: str
    add: str


@dataclass(frozen=True)
class Generate:
    """/mirage generate, or 'New seed'."""

    prompt: str
    seed: int | None = None
    steps: int | None = None
    fast: bool = False


@dataclass(frozen=True)
class CancelJob:
    """Cancel one's own request."""

    job_id: str


@dataclass(frozen=True)
class AskFollowUp:
    """A follow-up question in an answer thread (from the modal or an @mention)."""

    thread_id: int
    question: str


@dataclass(frozen=True)
class AskNew:
    """/mirage ask outside a known thread: search first, then answer on the top hits."""

    question: str


# --- the quiz (bot/flows/quiz/) ---------------------------------------------------------------
@dataclass(frozen=True)
class StartQuiz:
    """/mirage quiz: open a thread (or play in this one, or the DM) and ask the first question."""

    questions: int
    kind: str = "caption"  # engine.contract.QuizKind
    modality: str | None = None
    topic: str | None = None  # free text: the engine's pool is the atlas images nearest it
    concept: str | None = None  # a UMLS CUI: the atlas images whose caption has it


@dataclass(frozen=True)
class Answer:
    """A letter clicked on a question (`choice` 0 → A)."""

    question_id: int
    choice: int


@dataclass(frozen=True)
class TakeHint:
    """The Hint button: the clicker's next rung. `seed` lets the engine rebuild the ladder of a question
    asked before question rows kept it."""

    question_id: int
    seed: int


@dataclass(frozen=True)
class StopQuiz:
    """The Stop button (the starter, or someone who may manage messages)."""

    quiz_id: int


# --- fair questions: reports (bot/flows/quiz/report.py) ------------------------------------------
@dataclass(frozen=True)
class ReportQuestion:
    """The Report button under a question: ask the clicker why, privately."""

    question_id: int


@dataclass(frozen=True)
class ReportGiven:
    """A reason picked for a report (`reason`: a bot.rules.quiz_fair.ReportReason value)."""

    question_id: int
    reason: str


@dataclass(frozen=True)
class ListReports:
    """/mirage reports: the server's reported questions (Manage Messages only)."""


# --- one student's review, progress and data (bot/flows/quiz/review.py, people.py) -------------
@dataclass(frozen=True)
class Review:
    """/mirage review: the next due card's front (of one modality, or on a topic, when given; of one quiz's
    missed cases when `quiz_id` is set — the recap's "Review missed cases")."""

    modality: str | None = None
    topic: str | None = None
    quiz_id: int | None = None


@dataclass(frozen=True)
class ReviewAnswer:
    """A letter on a review card's front: `position` in the shuffled order the card was shown at
    `version`, `shown_at` (Unix seconds) to time the answer; `scope` is the review the card belongs to;
    `hints`: rungs of the hint ladder taken before answering."""

    card_id: int
    version: int
    position: int
    shown_at: int
    scope: Review = Review()
    hints: int = 0


@dataclass(frozen=True)
class ReviewHint:
    """The Hint button on a review card: rung `level` (1-based) of the question's ladder, privately."""

    card_id: int
    version: int
    shown_at: int
    level: int
    scope: Review = Review()


@dataclass(frozen=True)
class ChangeRating:
    """Change, once, the rating an answer in review gave (`version`: the log row that rating made)."""

    card_id: int
    version: int
    rating: int


@dataclass(frozen=True)
class WhyChoice:
    """"Why C?" under a reveal: a grounded answer on what tells the right image apart from the others."""

    question_id: int


@dataclass(frozen=True)
class ShowCardAnswer:
    """Turn a review card over."""

    card_id: int


@dataclass(frozen=True)
class RateCard:
    """A rating on a review card's back (`rating` is an fsrs.Rating value, 1 Again … 4 Easy); `version` the
    card's version the back was shown at (None on messages from before versions)."""

    card_id: int
    rating: int
    version: int | None = None


@dataclass(frozen=True)
class Rerate:
    """A rating under a reveal: replaces the rating the quiz outcome gave the clicker's card."""

    question_id: int
    rating: int


@dataclass(frozen=True)
class Progress:
    """/mirage progress: one's own due cards, streak and accuracy."""


@dataclass(frozen=True)
class Scores:
    """/mirage scores: the server's leaderboard."""


@dataclass(frozen=True)
class ForgetMe:
    """/mirage forget-me: what would be deleted, and a confirm button."""


@dataclass(frozen=True)
class ForgetConfirmed:
    """The forget-me confirm button: delete every row about the clicker."""


AtlasRequest = SearchText | SearchImage | MoreResults | SimilarTo | Compare | Generate | CancelJob | AskFollowUp | AskNew
QuizAction = StartQuiz | Answer | TakeHint | StopQuiz
FairAction = ReportQuestion | ReportGiven | ListReports
StudyAction = Review | ShowCardAnswer | RateCard | Rerate | Progress | Scores | ForgetMe | ForgetConfirmed
TeachAction = ReviewAnswer | ChangeRating | ReviewHint  # review that tests (bot/flows/quiz/review.py)
Request = AtlasRequest | QuizAction | StudyAction | FairAction | TeachAction | WhyChoice | SetAction
