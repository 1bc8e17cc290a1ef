"""QA sessions: sessions, turns, their media and feedback.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "qa_sessions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("replay_of", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_qa_sessions"),
    )
    op.create_index("ix_qa_sessions_created_at", "qa_sessions", ["created_at"])
    op.create_table(
        "qa_turns",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("precision", sa.String(64), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reasoning", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("metrics", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("reasoning_seconds", sa.Float(), nullable=True),
        sa.Column("replay_of", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["qa_sessions.id"], name="fk_qa_turns_session_id_qa_sessions"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_qa_turns"),
        sa.UniqueConstraint("session_id", "seq", name="uq_qa_turns_session_id"),
    )
    op.create_index("ix_qa_turns_session_id", "qa_turns", ["session_id"])
    op.create_index("ix_qa_turns_model", "qa_turns", ["model"])
    op.create_index("ix_qa_turns_precision", "qa_turns", ["precision"])
    op.create_table(
        "qa_turn_media",
        sa.Column("turn_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("mime", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["turn_id"], ["qa_turns.id"], name="fk_qa_turn_media_turn_id_qa_turns"
        ),
        sa.PrimaryKeyConstraint("turn_id", "position", name="pk_qa_turn_media"),
    )
    op.create_table(
        "qa_media",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("mime", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_qa_media"),
    )
    op.create_table(
        "qa_feedback",
        sa.Column("turn_id", sa.String(32), nullable=False),
        sa.Column("rating", sa.String(8), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["turn_id"], ["qa_turns.id"], name="fk_qa_feedback_turn_id_qa_turns"
        ),
        sa.PrimaryKeyConstraint("turn_id", name="pk_qa_feedback"),
    )


def downgrade() -> None:
    op.drop_table("qa_feedback")
    op.drop_table("qa_media")
    op.drop_table("qa_turn_media")
    op.drop_index("ix_qa_turns_precision", table_name="qa_turns")
    op.drop_index("ix_qa_turns_model", table_name="qa_turns")
    op.drop_index("ix_qa_turns_session_id", table_name="qa_turns")
    op.drop_table("qa_turns")
    op.drop_index("ix_qa_sessions_created_at", table_name="qa_sessions")
    op.drop_table("qa_sessions")
