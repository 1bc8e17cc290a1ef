"""The QA database's tables, declared once with SQLAlchemy Core.

The migration scripts in `migrations/versions` create and change these tables in existing
databases; a test checks that a database migrated to the newest revision matches this file.
Ids that may point outside the database (a replayed session imported without its original)
are plain columns, not foreign keys.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

# Named constraints, so that migrations can refer to them on every database.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and read back as aware datetimes, also from SQLite (which
    keeps no time zone and returns naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp without a time zone: {value!r}")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=timezone.utc)


sessions = Table(
    "qa_sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("replay_of", String(32), nullable=True),
    Column("task", Text, nullable=True),  # set on a multi-step episode
)

turns = Table(
    "qa_turns",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("session_id", String(32), ForeignKey("qa_sessions.id"), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("text", Text, nullable=False),
    Column("system_prompt", Text, nullable=False),
    Column("context", JSON, nullable=False),
    Column("model", String(200), nullable=False, index=True),
    Column("precision", String(64), nullable=True, index=True),
    Column("options", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reasoning", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("error", Text, nullable=True),
    Column("metrics", JSON(none_as_null=True), nullable=True),
    Column("reasoning_seconds", Float, nullable=True),
    Column("replay_of", String(32), nullable=True),
    Column("target", JSON(none_as_null=True), nullable=True),  # the marked right answer
    UniqueConstraint("session_id", "seq"),
)

# The images and audio a turn was asked with, in order; `sha256` finds the bytes in
# qa_media when they were stored.
turn_media = Table(
    "qa_turn_media",
    metadata,
    Column("turn_id", String(32), ForeignKey("qa_turns.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("name", Text, nullable=False),
    Column("sha256", String(64), nullable=True),
    Column("mime", String(100), nullable=False),
    Column("size", Integer, nullable=True),
)

# Content-addressed media bytes: the same screenshot used in many turns is stored once.
media = Table(
    "qa_media",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("mime", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
)

feedback = Table(
    "qa_feedback",
    metadata,
    Column("turn_id", String(32), ForeignKey("qa_turns.id"), primary_key=True),
    Column("rating", String(8), nullable=False),
    Column("comment", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
