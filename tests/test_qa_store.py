"""The QA database on SQLite and on a real PostgreSQL server: migrations, writes, queries."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from autoglm_demo.qa.records import (
    Blob,
    Feedback,
    MediaKind,
    MediaRef,
    Rating,
    RatingFilter,
    RecordedMetrics,
    RecordedOptions,
    RecordStatus,
    SessionFilter,
    SessionRecord,
    TurnRecord,
    new_id,
    utc_now,
)
from autoglm_demo.qa.schema import metadata
from autoglm_demo.qa.store import (
    QaStore,
    QaStoreError,
    SessionExists,
    SessionNotFound,
    alembic_config,
)
from tests.qa_support import Databases, database_fixture

dbs = database_fixture()


@pytest.fixture
def store(dbs: Databases) -> Iterator[QaStore]:
    opened = QaStore(dbs.new())
    yield opened
    opened.close()


def session_at(created_at: datetime, title: str = "q") -> SessionRecord:
    return SessionRecord(new_id(), created_at, title)


def turn_in(session: SessionRecord, seq: int, **fields: object) -> TurnRecord:
    values: dict[str, object] = dict(
        id=new_id(),
        session_id=session.id,
        seq=seq,
        created_at=session.created_at,
        text=f"question {seq}",
        images=(),
        audio=None,
        system_prompt="",
        context=(),
        model="m-int8",
        precision="int8",
        options=RecordedOptions(),
        status=RecordStatus.DONE,
        reasoning="",
        answer=f"answer {seq}",
        error=None,
        metrics=RecordedMetrics(0.5, 10.0, 20, 5),
        reasoning_seconds=None,
    )
    values.update(fields)
    return TurnRecord(**values)  # type: ignore[arg-type]


def test_a_new_database_is_at_head_and_matches_the_tables(dbs: Databases) -> None:
    url = dbs.new()
    store = QaStore(url)
    QaStore(url).close()  # opening it again (another replica) migrates nothing
    with store.engine.connect() as connection:
        head = ScriptDirectory.from_config(alembic_config(connection)).get_current_head()
        assert (
            MigrationContext.configure(connection).get_current_revision()
            == head
            == store.revision()
        )
        # Alembic's own comparison of the migrated database with schema.py: no difference.
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
    tables = set(inspect(create_engine(url)).get_table_names())
    assert {"qa_sessions", "qa_turns", "qa_turn_media", "qa_media", "qa_feedback"} <= tables
    store.close()


def test_sqlite_is_tuned_for_durability_and_sharing(tmp_path: Path) -> None:
    store = QaStore(f"sqlite:///{tmp_path / 'deep' / 'folder' / 'qa.sqlite3'}")  # folders made
    with store.engine.connect() as connection:
        pragmas = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
        }
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,
        "busy_timeout": 30_000,
        "foreign_keys": 1,
    }
    store.close()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not a url", "not a SQLAlchemy database URL"),
        ("mysql://user@host/db", "sqlite or postgresql, not mysql"),
        ("sqlite://", "needs a file path"),
        ("sqlite:///:memory:", "needs a file path"),
        ("postgresql+psycopg://nobody@/qa?host=/nonexistent", "cannot open the QA database"),
    ],
)
def test_bad_database_urls_get_a_clear_error(url: str, problem: str) -> None:
    with pytest.raises(QaStoreError, match=problem):
        QaStore(url)


def test_turns_with_media_and_feedback_read_back_whole(store: QaStore) -> None:
    session = session_at(utc_now(), "where is search?")
    shot = Blob("a" * 64, "image/png", b"\x89PNG...")
    image = MediaRef(MediaKind.IMAGE, "shot.png", shot.sha256, "image/png", len(shot.data))
    gone = MediaRef(MediaKind.IMAGE, "gone.png", None, "image/png", None)
    voice = MediaRef(MediaKind.AUDIO, "clip.wav", "b" * 64, "audio/x-wav", 12)
    first = turn_in(
        session, 0, images=(image, gone), audio=voice, options=RecordedOptions(stop=("\n",), seed=3)
    )
    second = turn_in(
        session,
        1,
        context=(first.id,),
        status=RecordStatus.FAILED,
        error="boom",
        metrics=None,
        replay_of="c" * 32,
        feedback=Feedback(Rating.GOOD, "fine"),
    )
    store.add_turn(session, first, [shot])
    store.add_turn(session, second, [shot])  # the same screenshot again: stored once
    assert store.session(session.id) == dataclasses.replace(session, turns=(first, second))
    assert store.blob(shot.sha256) == shot and store.blob(voice.sha256 or "") is None

    store.set_feedback(first.id, Feedback(Rating.BAD, "wrong element"))
    store.set_feedback(first.id, Feedback(Rating.BAD, "wrong element, twice"))  # replaces
    store.set_feedback(second.id, None)  # cleared
    first_back, second_back = store.session(session.id).turns
    assert first_back.feedback and first_back.feedback.comment == "wrong element, twice"
    assert second_back.feedback is None
    with pytest.raises(QaStoreError, match="no recorded turn"):
        store.set_feedback(new_id(), Feedback(Rating.GOOD))
    with pytest.raises(SessionNotFound):
        store.session(new_id())


def test_importing_a_session_twice_is_refused(store: QaStore) -> None:
    session = session_at(utc_now())
    session = dataclasses.replace(session, turns=(turn_in(session, 0),))
    store.add_session(session)
    with pytest.raises(SessionExists):
        store.add_session(session)
    assert len(store.session(session.id).turns) == 1


def test_sessions_filter_by_date_model_variant_and_rating(store: QaStore) -> None:
    day = datetime(2026, 3, 14, 23, 30, tzinfo=timezone.utc)
    old = session_at(day - timedelta(days=30), "old")
    mixed = session_at(day, "mixed")
    late = session_at(day + timedelta(hours=1), "late")  # the next day in UTC
    store.add_turn(old, turn_in(old, 0, model="m-bf16", precision="bfloat16"))
    good = turn_in(mixed, 0, feedback=Feedback(Rating.GOOD))
    store.add_turn(mixed, good)
    store.add_turn(
        mixed,
        turn_in(mixed, 1, model="m-bf16", precision="bfloat16", feedback=Feedback(Rating.BAD)),
    )
    store.add_turn(late, turn_in(late, 0))

    def titles(**where: object) -> list[str]:
        return [s.title for s in store.sessions(SessionFilter(**where))]  # type: ignore[arg-type]

    assert titles() == ["late", "mixed", "old"]  # newest first
    assert titles(since=date(2026, 3, 14), until=date(2026, 3, 14)) == ["mixed"]
    assert titles(since=date(2026, 3, 15)) == ["late"]
    assert titles(model="m-bf16") == ["mixed", "old"]
    assert titles(precision="int8") == ["late", "mixed"]
    assert titles(model="m-int8", precision="bfloat16") == []  # one turn must match both
    assert titles(rating=RatingFilter.GOOD) == ["mixed"]
    assert titles(rating=RatingFilter.BAD) == ["mixed"]
    assert titles(rating=RatingFilter.UNRATED) == ["late", "old"]
    summary = store.sessions(SessionFilter(model="m-bf16", since=date(2026, 3, 1)))[0]
    assert (summary.turns, summary.models, summary.precisions, summary.good, summary.bad) == (
        2,
        ("m-bf16", "m-int8"),
        ("bfloat16", "int8"),
        1,
        1,
    )
    assert store.facets() == (["m-bf16", "m-int8"], ["bfloat16", "int8"])
