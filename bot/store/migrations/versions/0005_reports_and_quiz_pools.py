"""Reported questions, and a quiz's topic or concept pool.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

`reports`: a student (or a moderator) flags a question as wrong or unfair; an item reported by a
moderator or by two students is not asked again in that server (`bot.rules.quiz_fair.retires`).
`quizzes.topic` / `quizzes.concept`: what a `/mirage quiz topic:` or `concept:` draws from, so later
questions (and a restarted bot) ask the same pool. Both nullable: older quizzes have neither.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create `reports`; add `topic` and `concept` to `quizzes`."""
    op.create_table(
        "reports",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("atlas_id", sa.String(128), nullable=False),
        sa.Column("question_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("is_moderator", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reports"),
        sa.UniqueConstraint("guild_id", "atlas_id", "user_id", name="uq_reports_guild_id_atlas_id_user_id"),
    )
    op.create_index("ix_reports_user_id", "reports", ["user_id"])
    op.add_column("quizzes", sa.Column("topic", sa.String(200), nullable=True))
    op.add_column("quizzes", sa.Column("concept", sa.String(16), nullable=True))


def downgrade() -> None:
    """Drop them again. The columns go in place (SQLite ≥ 3.35 and PostgreSQL can): batch mode would copy
    and drop `quizzes`, and with foreign keys on, dropping it deletes its questions by cascade."""
    op.drop_column("quizzes", "concept")
    op.drop_column("quizzes", "topic")
    op.drop_index("ix_reports_user_id", table_name="reports")
    op.drop_table("reports")
