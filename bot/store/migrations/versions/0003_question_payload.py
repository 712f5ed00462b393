"""Quiz questions keep what was asked: the hint ladder and the asked item (id, caption, source, modality).

Revision ID: 0003
Revises: 0002
Create Date: 2025-02-10

Without it a Hint click after a bot restart had to ask the engine again with the question's seed, and
a changed atlas meant "no hints". Nullable: questions asked before this revision have no payload and
the bot still falls back to the engine for them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable `payload` column to `quiz_questions`."""
    op.add_column("quiz_questions", sa.Column("payload", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop the column again (batch mode: older SQLite cannot drop a column in place)."""
    with op.batch_alter_table("quiz_questions") as batch:
        batch.drop_column("payload")
