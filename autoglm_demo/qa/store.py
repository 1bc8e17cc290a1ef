"""The QA database: SQLite in one file by default, or any PostgreSQL server.

`QaStore(url)` opens the database named by a SQLAlchemy URL and migrates it to the newest
schema (Alembic, scripts in `migrations/`), so every page replica that opens it agrees on
the tables. Every write is one short transaction: a finished turn, with its media and the
session it starts, is committed whole or not at all.

SQLite is tuned for several processes sharing one file:
- WAL journal: readers never block the writer, and a killed writer leaves the last
  committed transaction intact;
- synchronous=FULL: a commit is on disk before it returns, so a committed turn survives a
  crash of the process or the machine;
- writes begin with BEGIN IMMEDIATE, taking the write lock up front, so a second writer
  waits its turn (busy_timeout) instead of failing with "database is locked".
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Table,
    and_,
    create_engine,
    delete,
    event,
    exists,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from autoglm_demo.qa import schema
from autoglm_demo.qa.codec import (
    feedback_to_dict,
    media_to_dict,
    session_from_dict,
    session_to_dict,
    target_from_dict,
    target_to_dict,
    turn_from_dict,
    turn_to_dict,
)
from autoglm_demo.qa.episodes import build_episode
from autoglm_demo.qa.records import (
    Blob,
    Feedback,
    MediaKind,
    Rating,
    RatingFilter,
    SessionFilter,
    SessionRecord,
    SessionSummary,
    TurnRecord,
)
from autoglm_demo.scoring import Target

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_WRITE = "autoglm_qa_write"  # execution option marking a write transaction
_MIGRATION_LOCK = 0x51A5E55  # PostgreSQL advisory lock: one replica migrates at a time
# Both dialects can skip rows whose key exists; that keeps shared rows (a session's first
# turn, a screenshot used twice) free of races between writers.
_INSERT = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
ALL_SESSIONS = SessionFilter()


class QaStoreError(Exception):
    """Something a person must fix or know about; the message says what."""


class SessionNotFound(QaStoreError):
    pass


class SessionExists(QaStoreError):
    pass


def default_url(cache_dir: Path) -> str:
    return f"sqlite:///{cache_dir / 'qa.sqlite3'}"


def alembic_config(connection: Connection) -> Config:
    """Alembic's configuration for our migrations, run on `connection` (see migrations/env.py)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


class QaStore:
    def __init__(self, url: str) -> None:
        self.engine = _create_engine(url)
        self._writer = self.engine.execution_options(**{_WRITE: True})
        try:
            self._migrate()
        except OperationalError as error:
            self.engine.dispose()
            shown = self.engine.url.render_as_string(hide_password=True)
            raise QaStoreError(f"cannot open the QA database {shown}: {error.orig}") from None

    def close(self) -> None:
        self.engine.dispose()

    # Writing.

    def add_turn(
        self, session: SessionRecord, record: TurnRecord, blobs: Sequence[Blob] = ()
    ) -> None:
        """One finished turn, with the session it belongs to (created on its first turn)."""
        with self._writer.begin() as connection:
            _insert_missing(connection, schema.sessions, [session_to_dict(session)])
            _insert_blobs(connection, blobs)
            _insert_turn(connection, record)

    def add_session(self, session: SessionRecord, blobs: Iterable[Blob] = ()) -> None:
        """A whole session at once (an import); refused if it or one of its turns is already
        here. `blobs` is read one at a time: an import's media need not fit in memory."""
        with self._writer.begin() as connection:
            if connection.scalar(
                select(schema.sessions.c.id).where(schema.sessions.c.id == session.id)
            ):
                raise SessionExists(f"session {session.id} is already in the QA database")
            turn_ids = [record.id for record in session.turns]
            present = connection.scalar(
                select(schema.turns.c.id).where(schema.turns.c.id.in_(turn_ids)).limit(1)
            )
            if present:
                raise SessionExists(
                    f"turn {present} of session {session.id} is already in the QA database "
                    "(imported before as part of another session?)"
                )
            connection.execute(insert(schema.sessions), [session_to_dict(session)])
            _insert_blobs(connection, blobs)
            for record in session.turns:
                _insert_turn(connection, record)

    def set_feedback(self, turn_id: str, feedback: Feedback | None) -> None:
        """Rate a turn (replacing an earlier rating), or clear its feedback with None."""
        table = schema.feedback
        with self._writer.begin() as connection:
            if not connection.scalar(select(schema.turns.c.id).where(schema.turns.c.id == turn_id)):
                raise QaStoreError(f"no recorded turn {turn_id}")
            connection.execute(delete(table).where(table.c.turn_id == turn_id))
            if feedback is not None:
                row = {"turn_id": turn_id, **feedback_to_dict(feedback)}
                connection.execute(insert(table), [row])

    def set_target(self, turn_id: str, target: Target | None) -> None:
        """Mark the right answer of a turn (replacing an earlier mark), or clear it with None."""
        value = None
        if target is not None:
            value = target_to_dict(target)
            try:
                target_from_dict(value)  # the same checks as an import
            except (TypeError, ValueError) as error:
                raise QaStoreError(f"turn {turn_id}: {error}") from None
        self._update(
            schema.turns, turn_id, QaStoreError(f"no recorded turn {turn_id}"), target=value
        )

    def set_task(self, session_id: str, task: str | None) -> None:
        """Make a session a multi-step episode of `task` (None: a plain session again)."""
        self._update(
            schema.sessions, session_id, SessionNotFound(f"no QA session {session_id}"), task=task
        )

    def _update(self, table: Table, row_id: str, missing: QaStoreError, **values: Any) -> None:
        """Set `values` on the row `row_id` of `table`; raise `missing` if there is none."""
        with self._writer.begin() as connection:
            changed = connection.execute(update(table).where(table.c.id == row_id).values(**values))
            if not changed.rowcount:
                raise missing

    def create_episode(
        self,
        task: str,
        screenshots: Sequence[tuple[str, bytes]],
        targets: Sequence[Target | None],
        system_prompt: str | None = None,
    ) -> SessionRecord:
        """An uploaded episode: one step per (file name, PNG/JPEG bytes), each marked with
        its target (or None), none answered yet. Its screenshots are stored whatever
        --qa-store-media says: an episode without them cannot be replayed."""
        try:
            session, blobs = build_episode(task, screenshots, targets, system_prompt)
        except ValueError as error:
            raise QaStoreError(str(error)) from None
        self.add_session(session, blobs)
        return session

    # Reading.

    def session(self, session_id: str) -> SessionRecord:
        with self.engine.begin() as connection:
            row = connection.execute(
                select(schema.sessions).where(schema.sessions.c.id == session_id)
            ).first()
            if row is None:
                raise SessionNotFound(f"no QA session {session_id}")
            turn_rows = connection.execute(
                select(schema.turns)
                .where(schema.turns.c.session_id == session_id)
                .order_by(schema.turns.c.seq)
            ).all()
            ids = [turn.id for turn in turn_rows]
            media_rows = connection.execute(
                select(schema.turn_media)
                .where(schema.turn_media.c.turn_id.in_(ids))
                .order_by(schema.turn_media.c.position)
            ).all()
            feedback_rows = connection.execute(
                select(schema.feedback).where(schema.feedback.c.turn_id.in_(ids))
            ).all()
        media: dict[str, list[Row[Any]]] = defaultdict(list)
        for media_row in media_rows:
            media[media_row.turn_id].append(media_row)
        feedback = {f.turn_id: f for f in feedback_rows}
        turns = tuple(_turn_record(t, media[t.id], feedback.get(t.id)) for t in turn_rows)
        return session_from_dict(row._mapping, turns)

    def sessions(
        self, where: SessionFilter = ALL_SESSIONS, limit: int = 200
    ) -> list[SessionSummary]:
        """The newest sessions that match, with what the list shows about each."""
        table = schema.sessions
        query = (
            select(table)
            .where(*_conditions(where))
            .order_by(table.c.created_at.desc())
            .limit(limit)
        )
        with self.engine.begin() as connection:
            rows = connection.execute(query).all()
            turns = connection.execute(
                select(
                    schema.turns.c.session_id,
                    schema.turns.c.model,
                    schema.turns.c.precision,
                    schema.feedback.c.rating,
                )
                .outerjoin(schema.feedback, schema.feedback.c.turn_id == schema.turns.c.id)
                .where(schema.turns.c.session_id.in_([row.id for row in rows]))
            ).all()
        by_session: dict[str, list[Row[Any]]] = defaultdict(list)
        for turn in turns:
            by_session[turn.session_id].append(turn)
        return [_summary(row, by_session[row.id]) for row in rows]

    def facets(self) -> tuple[list[str], list[str]]:
        """Every model and every precision that answered a recorded turn (the filters' choices)."""
        with self.engine.begin() as connection:
            models = connection.scalars(
                select(schema.turns.c.model).where(schema.turns.c.model != "").distinct()
            ).all()
            precisions = connection.scalars(
                select(schema.turns.c.precision)
                .where(schema.turns.c.precision.is_not(None))
                .distinct()
            ).all()
        return sorted(models), sorted(precisions)

    def blob(self, sha256: str) -> Blob | None:
        table = schema.media
        with self.engine.begin() as connection:
            row = connection.execute(select(table).where(table.c.sha256 == sha256)).first()
        return Blob(row.sha256, row.mime, bytes(row.data)) if row else None

    def revision(self) -> str | None:
        """The schema revision the database is at."""
        with self.engine.begin() as connection:
            return connection.scalar(text("SELECT version_num FROM alembic_version"))

    # Plumbing.

    def _migrate(self) -> None:
        with self._writer.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            command.upgrade(alembic_config(connection), "head")


def _create_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise QaStoreError(f"--qa-db: not a SQLAlchemy database URL: {url!r}") from None
    backend = parsed.get_backend_name()
    if backend not in _INSERT:
        raise QaStoreError(f"--qa-db: the QA store works with sqlite or postgresql, not {backend}")
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise QaStoreError("--qa-db: a SQLite QA database needs a file path (sqlite:///path)")
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # pre_ping: a PostgreSQL server that restarted leaves dead pooled connections behind.
    engine = create_engine(parsed, pool_pre_ping=True)
    if backend == "sqlite":
        _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # sqlite3 must not BEGIN on its own (below)
        cursor = dbapi_connection.cursor()
        for pragma in (
            f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",  # first: the next pragmas may wait for locks
            "journal_mode=WAL",
            "synchronous=FULL",
            "foreign_keys=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        # A deferred transaction that reads and then writes can fail at once with "database
        # is locked" when another process wrote in between; IMMEDIATE waits instead.
        immediate = connection.get_execution_options().get(_WRITE)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _insert_missing(connection: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        statement = _INSERT[connection.dialect.name](table).on_conflict_do_nothing()
        connection.execute(statement, rows)


def _insert_blobs(connection: Connection, blobs: Iterable[Blob]) -> None:
    for b in blobs:  # one statement each: only one file's bytes are held at a time
        row = {"sha256": b.sha256, "mime": b.mime, "size": len(b.data), "data": b.data}
        _insert_missing(connection, schema.media, [row])


def _insert_turn(connection: Connection, record: TurnRecord) -> None:
    data = turn_to_dict(record)
    # The turn's own columns; its media and feedback have tables of their own.
    connection.execute(
        insert(schema.turns), [{"session_id": record.session_id, **_columns(schema.turns, data)}]
    )
    refs = [*record.images, *([record.audio] if record.audio else [])]
    if refs:
        connection.execute(
            insert(schema.turn_media),
            [
                {"turn_id": record.id, "position": position, **media_to_dict(ref)}
                for position, ref in enumerate(refs)
            ],
        )
    if data["feedback"]:
        connection.execute(insert(schema.feedback), [{"turn_id": record.id, **data["feedback"]}])


def _columns(table: Any, data: dict[str, Any]) -> dict[str, Any]:
    return {column.name: data[column.name] for column in table.columns if column.name in data}


def _turn_record(row: Row[Any], media: list[Row[Any]], feedback: Row[Any] | None) -> TurnRecord:
    refs = [m._mapping for m in media]
    audio = [ref for ref in refs if ref["kind"] == MediaKind.AUDIO.value]
    data = {
        **row._mapping,
        "images": [ref for ref in refs if ref["kind"] == MediaKind.IMAGE.value],
        "audio": audio[0] if audio else None,
        "feedback": feedback._mapping if feedback else None,
    }
    return turn_from_dict(data, row.session_id)


def _conditions(where: SessionFilter) -> list[Any]:
    sessions, turns, feedback = schema.sessions, schema.turns, schema.feedback
    conditions: list[Any] = []
    if where.since:
        conditions.append(sessions.c.created_at >= _day_start(where.since))
    if where.until:
        conditions.append(sessions.c.created_at < _day_start(where.until + timedelta(days=1)))
    if where.model or where.precision:
        # One turn must match both, not one turn each.
        answered_by = [turns.c.session_id == sessions.c.id]
        if where.model:
            answered_by.append(turns.c.model == where.model)
        if where.precision:
            answered_by.append(turns.c.precision == where.precision)
        conditions.append(exists(select(turns.c.id).where(and_(*answered_by))))
    if where.rating:
        rated = (
            select(feedback.c.turn_id)
            .join(turns, turns.c.id == feedback.c.turn_id)
            .where(turns.c.session_id == sessions.c.id)
        )
        if where.rating is RatingFilter.UNRATED:
            conditions.append(~exists(rated))
        else:
            conditions.append(exists(rated.where(feedback.c.rating == where.rating.value)))
    return conditions


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def _summary(row: Row[Any], turns: list[Row[Any]]) -> SessionSummary:
    ratings = [turn.rating for turn in turns]
    return SessionSummary(
        id=row.id,
        created_at=row.created_at,
        title=row.title,
        replay_of=row.replay_of,
        turns=len(turns),
        # The steps of an uploaded episode have no model until they are answered.
        models=tuple(sorted({turn.model for turn in turns if turn.model})),
        precisions=tuple(sorted({turn.precision for turn in turns if turn.precision})),
        good=ratings.count(Rating.GOOD.value),
        bad=ratings.count(Rating.BAD.value),
        task=row.task,
    )
