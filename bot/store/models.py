"""The bot's tables, as typed SQLAlchemy 2 models.

What is kept about people is the least the features need: Discord ids, atlas items, answers and
times. Every row that names a user is listed in `people.forget_user`.

Two groups, one per migration: answer threads, jobs and follow-up turns (revision 0001); quizzes,
their questions and answers, review cards, the review log and score events (revision 0002); revision
0003 adds what a question asked (hints and item) to its row. The migrations in `migrations/versions`
are written by hand; a test checks they build exactly these tables.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from bot.rules.quiz import QuestionState, QuizState

# Constraint names that are the same on every database, so later migrations can name them.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Discord snowflakes need 64 bits. Row ids too on PostgreSQL; SQLite only auto-numbers INTEGER keys.
Snowflake = BigInteger
RowId = BigInteger().with_variant(Integer(), "sqlite")
ATLAS_ID_LEN = 128
ID_LEN = 32
TOPIC_LEN = 200  # engine.contract.QUIZ_TOPIC_MAX_CHARS


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every database (SQLite keeps no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: D102
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps aware UTC times only")
        value = value.astimezone(UTC)
        # SQLite compares times as text: store them all as naive UTC so the order is right.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: D102
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


S = TypeVar("S", bound=enum.StrEnum)


class StateColumn(TypeDecorator[S]):
    """A state enum kept as its plain string value (`'running'`, `'open'` …): the stored text is what it
    was before the states were enums, so no data migration was needed; rows read back as the enum."""

    impl = String
    cache_ok = True

    def __init__(self, states: type[S]) -> None:
        super().__init__(length=16)
        self.states = states

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:  # noqa: D102
        return None if value is None else self.states(value).value  # a bad state fails here, named

    def process_result_value(self, value: str | None, dialect: Dialect) -> S | None:  # noqa: D102
        return None if value is None else self.states(value)


def utcnow() -> datetime:
    """Now, aware, in UTC (the only kind of time the store accepts)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with the shared naming convention."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


# --- revision 0001: follow-ups (issue 10) -----------------------------------------------


class AnswerThread(Base):
    """A thread the bot answered in: what was asked and which atlas items it showed, in order."""

    __tablename__ = "answer_threads"

    thread_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    guild_id: Mapped[int | None] = mapped_column(Snowflake)  # None in DMs
    channel_id: Mapped[int] = mapped_column(Snowflake)
    command: Mapped[str] = mapped_column(String(ID_LEN))
    query: Mapped[str] = mapped_column(Text)
    hit_ids: Mapped[list[Any]]
    created_at: Mapped[datetime]


class Job(Base):
    """A request to the engine, kept so its buttons still work after a bot restart."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    user_id: Mapped[int] = mapped_column(Snowflake, index=True)
    kind: Mapped[str] = mapped_column(String(ID_LEN))
    request: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[int | None] = mapped_column(Snowflake)
    thread_id: Mapped[int | None] = mapped_column(Snowflake)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Turn(Base):
    """One follow-up question in a thread and the answer it got."""

    __tablename__ = "turns"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    thread_id: Mapped[int] = mapped_column(
        ForeignKey("answer_threads.thread_id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(Snowflake, index=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    cited_ids: Mapped[list[Any]]
    grounded: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]


# --- revision 0002: quizzes, review, scores (issue 11) ------------------------------------


class Quiz(Base):
    """A quiz in a thread. At most one per thread is running (a partial unique index)."""

    __tablename__ = "quizzes"
    __table_args__ = (
        Index(
            "uq_quizzes_running_thread",
            "thread_id",
            unique=True,
            sqlite_where=text("state = 'running'"),
            postgresql_where=text("state = 'running'"),
        ),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    thread_id: Mapped[int] = mapped_column(Snowflake, index=True)
    guild_id: Mapped[int | None] = mapped_column(Snowflake)  # None in DMs (solo)
    starter_id: Mapped[int | None] = mapped_column(Snowflake)  # None once the starter used forget-me
    kind: Mapped[str] = mapped_column(String(16))
    modality: Mapped[str | None] = mapped_column(String(ID_LEN))
    question_count: Mapped[int] = mapped_column(Integer)
    item_ids: Mapped[list[Any] | None]  # a study set's atlas ids, asked in this order (revision 0004)
    state: Mapped[QuizState] = mapped_column(StateColumn(QuizState))
    deadline: Mapped[datetime | None]
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    topic: Mapped[str | None] = mapped_column(String(TOPIC_LEN))  # revision 0005: a topic or a CUI pool
    concept: Mapped[str | None] = mapped_column(String(16))


class Question(Base):
    """One question of a quiz: the atlas item, its choices, the right one, and whether it is revealed."""

    __tablename__ = "quiz_questions"
    __table_args__ = (UniqueConstraint("quiz_id", "position"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # 0-based order in the quiz
    atlas_id: Mapped[str] = mapped_column(String(ATLAS_ID_LEN))
    modality: Mapped[str | None] = mapped_column(String(ID_LEN))
    choices: Mapped[list[Any]]
    answer_index: Mapped[int] = mapped_column(Integer)
    state: Mapped[QuestionState] = mapped_column(StateColumn(QuestionState))
    deadline: Mapped[datetime | None]
    revealed_at: Mapped[datetime | None]
    # revision 0003: the hint ladder and the asked item (`bot.flows.quiz.payload`), so a restart needs no
    # engine to give hints or reveal; None on questions asked before it.
    payload: Mapped[dict[str, Any] | None]


class PlayerAnswer(Base):
    """A player's current choice on a question (one row per player: a click never counts twice)."""

    __tablename__ = "player_answers"
    __table_args__ = (UniqueConstraint("question_id", "user_id"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("quiz_questions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(Snowflake, index=True)
    choice: Mapped[int | None] = mapped_column(Integer)  # None: took a hint, not answered yet
    hint_level: Mapped[int] = mapped_column(Integer)
    answered_at: Mapped[datetime]


class Card(Base):
    """A student's FSRS card for one atlas item (the fields of `fsrs.Card`)."""

    __tablename__ = "review_cards"
    __table_args__ = (
        UniqueConstraint("user_id", "atlas_id"),
        Index("ix_review_cards_user_id_due", "user_id", "due"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    user_id: Mapped[int] = mapped_column(Snowflake)
    atlas_id: Mapped[str] = mapped_column(String(ATLAS_ID_LEN))
    modality: Mapped[str | None] = mapped_column(String(ID_LEN))
    state: Mapped[int] = mapped_column(Integer)  # fsrs.State
    step: Mapped[int | None] = mapped_column(Integer)
    stability: Mapped[float | None] = mapped_column(Float)
    difficulty: Mapped[float | None] = mapped_column(Float)
    due: Mapped[datetime]
    last_review: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Review(Base):
    """One rating of a card (the FSRS review log): replayed when a student re-rates."""

    __tablename__ = "review_log"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("review_cards.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(Snowflake, index=True)
    rating: Mapped[int] = mapped_column(Integer)  # fsrs.Rating
    source: Mapped[str] = mapped_column(String(16))  # quiz | review
    reviewed_at: Mapped[datetime]


class ScoreEvent(Base):
    """Points one player got for one question (at most once: UNIQUE(question, user))."""

    __tablename__ = "score_events"
    __table_args__ = (
        UniqueConstraint("question_id", "user_id"),
        Index("ix_score_events_guild_id_awarded_at", "guild_id", "awarded_at"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    guild_id: Mapped[int | None] = mapped_column(Snowflake)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("quiz_questions.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(Snowflake, index=True)
    points: Mapped[int] = mapped_column(Integer)
    correct: Mapped[bool] = mapped_column(Boolean)
    awarded_at: Mapped[datetime]


class Report(Base):
    """A report that a question was wrong or unfair (revision 0005): one per (server, atlas item, student);
    `guild_id` 0 in DMs; `question_id` is no foreign key, as a report outlives its quiz."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("guild_id", "atlas_id", "user_id"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    guild_id: Mapped[int] = mapped_column(Snowflake)
    atlas_id: Mapped[str] = mapped_column(String(ATLAS_ID_LEN))
    question_id: Mapped[int] = mapped_column(Snowflake)
    user_id: Mapped[int] = mapped_column(Snowflake, index=True)
    reason: Mapped[str] = mapped_column(String(16))
    is_moderator: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
