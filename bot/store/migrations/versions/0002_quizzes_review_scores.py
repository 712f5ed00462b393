"""Quizzes, spaced review and scores: quizzes, questions, player answers, cards, review log, scores.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
RUNNING = sa.text("state = 'running'")


def _id() -> sa.Column:
    return sa.Column("id", ROW_ID, nullable=False)


def upgrade() -> None:
    """Create the six tables of quizzes, review and scores."""
    op.create_table(
        "quizzes",
        _id(),
        sa.Column("thread_id", sa.BigInteger(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("starter_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("modality", sa.String(32), nullable=True),
        sa.Column("question_count", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("deadline", TIME, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("finished_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_quizzes"),
    )
    op.create_index("ix_quizzes_thread_id", "quizzes", ["thread_id"])
    # One running quiz per thread, enforced by the database (two clicks at once cannot both start one).
    op.create_index(
        "uq_quizzes_running_thread",
        "quizzes",
        ["thread_id"],
        unique=True,
        sqlite_where=RUNNING,
        postgresql_where=RUNNING,
    )
    op.create_table(
        "quiz_questions",
        _id(),
        sa.Column("quiz_id", ROW_ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("atlas_id", sa.String(128), nullable=False),
        sa.Column("modality", sa.String(32), nullable=True),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("answer_index", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("deadline", TIME, nullable=True),
        sa.Column("revealed_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["quiz_id"], ["quizzes.id"], name="fk_quiz_questions_quiz_id_quizzes", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_quiz_questions"),
        sa.UniqueConstraint("quiz_id", "position", name="uq_quiz_questions_quiz_id_position"),
    )
    op.create_index("ix_quiz_questions_quiz_id", "quiz_questions", ["quiz_id"])
    op.create_table(
        "player_answers",
        _id(),
        sa.Column("question_id", ROW_ID, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("choice", sa.Integer(), nullable=True),
        sa.Column("hint_level", sa.Integer(), nullable=False),
        sa.Column("answered_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["quiz_questions.id"],
            name="fk_player_answers_question_id_quiz_questions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_player_answers"),
        sa.UniqueConstraint("question_id", "user_id", name="uq_player_answers_question_id_user_id"),
    )
    op.create_index("ix_player_answers_question_id", "player_answers", ["question_id"])
    op.create_index("ix_player_answers_user_id", "player_answers", ["user_id"])
    op.create_table(
        "review_cards",
        _id(),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("atlas_id", sa.String(128), nullable=False),
        sa.Column("modality", sa.String(32), nullable=True),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("stability", sa.Float(), nullable=True),
        sa.Column("difficulty", sa.Float(), nullable=True),
        sa.Column("due", TIME, nullable=False),
        sa.Column("last_review", TIME, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_review_cards"),
        sa.UniqueConstraint("user_id", "atlas_id", name="uq_review_cards_user_id_atlas_id"),
    )
    op.create_index("ix_review_cards_user_id_due", "review_cards", ["user_id", "due"])
    op.create_table(
        "review_log",
        _id(),
        sa.Column("card_id", ROW_ID, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("reviewed_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["card_id"], ["review_cards.id"], name="fk_review_log_card_id_review_cards", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_review_log"),
    )
    op.create_index("ix_review_log_card_id", "review_log", ["card_id"])
    op.create_index("ix_review_log_user_id", "review_log", ["user_id"])
    op.create_table(
        "score_events",
        _id(),
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("quiz_id", ROW_ID, nullable=False),
        sa.Column("question_id", ROW_ID, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("awarded_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["quiz_id"], ["quizzes.id"], name="fk_score_events_quiz_id_quizzes", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["quiz_questions.id"],
            name="fk_score_events_question_id_quiz_questions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_score_events"),
        sa.UniqueConstraint("question_id", "user_id", name="uq_score_events_question_id_user_id"),
    )
    op.create_index("ix_score_events_quiz_id", "score_events", ["quiz_id"])
    op.create_index("ix_score_events_user_id", "score_events", ["user_id"])
    op.create_index("ix_score_events_guild_id_awarded_at", "score_events", ["guild_id", "awarded_at"])


def downgrade() -> None:
    """Drop the six tables, dependants first."""
    for table in (
        "score_events",
        "review_log",
        "review_cards",
        "player_answers",
        "quiz_questions",
        "quizzes",
    ):
        op.drop_table(table)
