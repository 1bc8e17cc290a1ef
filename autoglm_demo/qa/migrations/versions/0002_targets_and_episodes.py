"""Marked targets on turns, and tasks on sessions (multi-step episodes).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


# Plain ALTER TABLE, not batch mode: SQLite adds and (since 3.35) drops a column in place,
# where batch mode would copy qa_turns, which other tables' foreign keys point at.


def upgrade() -> None:
    # Both nullable: every existing turn is unmarked and every existing session is no episode.
    op.add_column("qa_turns", sa.Column("target", sa.JSON(none_as_null=True), nullable=True))
    op.add_column("qa_sessions", sa.Column("task", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("qa_sessions", "task")
    op.drop_column("qa_turns", "target")
