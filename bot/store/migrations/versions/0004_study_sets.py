"""Study sets: a server's named, ordered sets of atlas images (`/mirage set`), and the ids a quiz over a
set asks, in order.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

`study_sets.owner_id` is nullable: after the owner's `/mirage forget-me` the set stays the server's,
without their id (only a moderator may then change or delete it). `quizzes.item_ids` is nullable: a quiz
not played over a set has none, as every quiz before this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create `study_sets` and `study_set_items`; add the nullable `item_ids` to `quizzes`."""
    op.create_table(
        "study_sets",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("title_key", sa.String(100), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_study_sets"),
        sa.UniqueConstraint("guild_id", "title_key", name="uq_study_sets_guild_id_title_key"),
    )
    op.create_table(
        "study_set_items",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("set_id", ROW_ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("atlas_id", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(
            ["set_id"], ["study_sets.id"], name="fk_study_set_items_set_id_study_sets", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_study_set_items"),
        sa.UniqueConstraint("set_id", "atlas_id", name="uq_study_set_items_set_id_atlas_id"),
    )
    op.create_index("ix_study_set_items_set_id", "study_set_items", ["set_id"])
    op.add_column("quizzes", sa.Column("item_ids", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop them again. The column goes in place (SQLite ≥ 3.35 and PostgreSQL can): batch mode would copy
    and drop `quizzes`, and with foreign keys on, dropping it deletes its questions by cascade."""
    op.drop_column("quizzes", "item_ids")
    op.drop_index("ix_study_set_items_set_id", table_name="study_set_items")
    op.drop_table("study_set_items")
    op.drop_table("study_sets")
