"""Marked targets and multi-step episodes in the QA database (SQLite and a real PostgreSQL):
the migration up and down, marks and tasks read back, uploaded episodes, and the checks a
target goes through wherever it comes from."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from PIL import Image
from sqlalchemy import create_engine, inspect, select

from autoglm_demo.conversation import TurnStatus
from autoglm_demo.qa import schema
from autoglm_demo.qa.codec import target_from_dict, target_to_dict
from autoglm_demo.qa.export import InvalidExport, from_jsonl, open_export, to_jsonl, write_exports
from autoglm_demo.qa.records import RecordStatus, SessionRecord, new_id, utc_now
from autoglm_demo.qa.store import QaStore, QaStoreError, SessionNotFound, alembic_config
from autoglm_demo.scoring import Region, Target
from tests.qa_support import Databases, database_fixture

dbs = database_fixture()

TAP = Target("Tap", Region.point(500, 100))
BOX = Target("Long Press", Region(100, 200, 300, 260))
SWIPE = Target("Swipe", Region.point(500, 800), Region(450, 100, 550, 300))
TYPE = Target("Type", text="咖啡")
FINISH = Target("finish")


def png(colour: tuple[int, int, int], size: tuple[int, int] = (108, 240)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def store(dbs: Databases) -> Iterator[QaStore]:
    opened = QaStore(dbs.new())
    yield opened
    opened.close()


def columns(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {column["name"] for column in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_the_migration_adds_target_and_task_and_takes_them_away_again(dbs: Databases) -> None:
    url = dbs.new()
    store = QaStore(url)
    assert store.revision() == "0002"
    assert "target" in columns(url, "qa_turns") and "task" in columns(url, "qa_sessions")
    episode = store.create_episode("Open settings", [("a.png", png((1, 2, 3)))], [TAP])
    with store._writer.begin() as connection:
        command.downgrade(alembic_config(connection), "0001")
    assert "target" not in columns(url, "qa_turns") and "task" not in columns(url, "qa_sessions")
    with store.engine.begin() as connection:  # the rows themselves survive the way down
        assert connection.scalar(select(schema.turns.c.id)) == episode.turns[0].id
    store.close()
    reopened = QaStore(url)  # opening migrates up again: no mark, no task, every turn intact
    assert reopened.revision() == "0002"
    back = reopened.session(episode.id)
    assert back.task is None and back.turns[0].target is None
    assert back.turns[0].images == episode.turns[0].images
    reopened.close()


def test_marks_are_set_replaced_and_cleared(store: QaStore) -> None:
    episode = store.create_episode(
        "Find coffee", [(f"{i}.png", png((i, 0, 0))) for i in range(5)], [None] * 5
    )
    ids = [turn.id for turn in episode.turns]
    for turn_id, target in zip(ids, [TAP, BOX, SWIPE, TYPE, FINISH], strict=True):
        store.set_target(turn_id, target)
    assert [t.target for t in store.session(episode.id).turns] == [TAP, BOX, SWIPE, TYPE, FINISH]
    store.set_target(ids[0], Target("Tap", Region(10, 10, 20, 20)))
    store.set_target(ids[1], None)
    turns = store.session(episode.id).turns
    assert turns[0].target == Target("Tap", Region(10, 10, 20, 20)) and turns[1].target is None
    with pytest.raises(QaStoreError, match="no recorded turn"):
        store.set_target(new_id(), TAP)
    with pytest.raises(QaStoreError, match="Tap needs a start point"):
        store.set_target(ids[0], Target("Tap"))
    assert store.session(episode.id).turns[0].target == Target("Tap", Region(10, 10, 20, 20))


def test_an_uploaded_episode_waits_for_its_answers_in_order(store: QaStore) -> None:
    shots = [
        ("home.png", png((1, 1, 1))),
        ("app.png", png((2, 2, 2))),
        ("home.png", png((1, 1, 1))),
    ]
    episode = store.create_episode("打开设置，把亮度调到最高", shots, [TAP, None, FINISH])
    back = store.session(episode.id)
    assert back == episode and back.is_episode and back.task == "打开设置，把亮度调到最高"
    assert [turn.seq for turn in back.turns] == [0, 1, 2]
    assert all(turn.status is RecordStatus.PENDING for turn in back.turns)
    # The task is said once, in the first step; the preset prompt is in the task's language.
    assert [turn.text for turn in back.turns] == [back.task, "", ""]
    assert "你替用户操作一部安卓手机" in back.turns[0].system_prompt
    assert back.turns[0].images[0].sha256 == back.turns[2].images[0].sha256
    blob = store.blob(back.turns[1].images[0].sha256 or "")
    assert blob is not None and blob.data == shots[1][1] and blob.mime == "image/png"
    assert back.turns[0].as_turn([], None).status is TurnStatus.WAITING
    summary = store.sessions()[0]
    assert (summary.task, summary.turns, summary.models) == (back.task, 3, ())
    assert store.facets() == ([], [])  # unanswered steps name no model


@pytest.mark.parametrize(
    ("task", "shots", "targets", "problem"),
    [
        ("", [("a.png", png((0, 0, 0)))], [None], "needs a task"),
        ("t", [], [], "at least one screenshot"),
        ("t", [("a.png", png((0, 0, 0)))], [], "1 screenshots but 0 targets"),
        ("t", [("a.png", b"not an image")], [None], "step 1: a.png is not a PNG"),
        ("t", [("../a.png", png((0, 0, 0)))], [None], "not a plain file name"),
        ("t", [("a.png", png((0, 0, 0)))], [Target("Swipe", Region.point(1, 1))], "end point"),
    ],
)
def test_a_bad_episode_is_refused_and_nothing_is_stored(
    store: QaStore, task: str, shots: list[tuple[str, bytes]], targets: list, problem: str
) -> None:
    with pytest.raises(QaStoreError, match=problem):
        store.create_episode(task, shots, targets)
    assert store.sessions() == []


def test_set_task_makes_a_recorded_session_an_episode(store: QaStore) -> None:
    session = SessionRecord(new_id(), utc_now(), "Open the camera")
    store.add_session(session)
    store.set_task(session.id, "Open the camera")
    assert store.session(session.id).task == "Open the camera"
    store.set_task(session.id, None)
    assert store.session(session.id).task is None
    with pytest.raises(SessionNotFound):
        store.set_task(new_id(), "x")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("Tap", "must be an object"),
        ({"action": "Fly", "start": None, "end": None, "text": None}, "unknown action 'Fly'"),
        ({"action": "Tap", "start": [1, 2, 3], "end": None, "text": None}, r"\[x1, y1, x2, y2\]"),
        ({"action": "Tap", "start": [0, 0, 1001, 5], "end": None, "text": None}, "0-1000"),
        ({"action": "Tap", "start": [-1, 0, 5, 5], "end": None, "text": None}, "0-1000"),
        ({"action": "Tap", "start": [float("nan")] * 4, "end": None, "text": None}, "0-1000"),
        ({"action": "Tap", "start": [9, 0, 5, 5], "end": None, "text": None}, "not in order"),
        ({"action": "Tap", "start": ["1", 0, 5, 5], "end": None, "text": None}, "numbers"),
        ({"action": "Tap", "start": [True, 0, 5, 5], "end": None, "text": None}, "numbers"),
        ({"action": "Tap", "start": None, "end": None, "text": None}, "needs a start"),
        ({"action": "Back", "start": [1, 1, 1, 1], "end": None, "text": None}, "takes no point"),
        ({"action": "Tap", "start": [1, 1, 1, 1], "end": [1, 1, 1, 1], "text": None}, "no end"),
        ({"action": "Type", "start": None, "end": None, "text": " "}, "needs its text"),
        ({"action": "Type", "start": None, "end": None, "text": "x" * 2001}, "longer than"),
        ({"action": "Type", "start": None, "end": None, "text": 5}, "must be text"),
        ({"action": "Tap", "start": [1, 1, 1, 1], "end": None, "text": None, "x": 1}, "unknown"),
    ],
)
def test_hostile_targets_are_refused_with_what_is_wrong(data: object, problem: str) -> None:
    with pytest.raises((TypeError, ValueError), match=problem):
        target_from_dict(data)


@pytest.mark.parametrize("target", [TAP, BOX, SWIPE, TYPE, FINISH, Target("Launch", text="微信")])
def test_every_kind_of_target_survives_its_json(target: Target) -> None:
    assert target_from_dict(target_to_dict(target)) == target


def test_an_episode_exports_and_imports_with_its_task_and_targets(
    store: QaStore, dbs: Databases, tmp_path: Path
) -> None:
    shots = [("home.png", png((1, 1, 1))), ("list.png", png((2, 2, 2)))]
    episode = store.create_episode("Find coffee", shots, [SWIPE, TYPE])
    files = write_exports(episode, tmp_path, store.blob)
    assert [path.suffix for path in files] == [".jsonl", ".csv", ".zip"]
    first, *steps = files[0].read_text(encoding="utf-8").splitlines()
    assert json.loads(first)["task"] == "Find coffee"
    assert json.loads(steps[0])["target"] == {
        "action": "Swipe",
        "start": [500, 800, 500, 800],
        "end": [450, 100, 550, 300],
        "text": None,
    }
    into = QaStore(dbs.new())
    with open_export(files[2]) as imported:
        into.add_session(imported.session, imported.blobs())
    back = into.session(episode.id)
    assert back == episode and back.turns[1].target == TYPE
    assert into.blob(back.turns[0].images[0].sha256 or "") == store.blob(
        episode.turns[0].images[0].sha256 or ""
    )
    assert to_jsonl(back) == to_jsonl(episode)
    into.close()


def test_an_import_with_a_hostile_target_is_refused_naming_the_turn(
    store: QaStore, tmp_path: Path
) -> None:
    episode = store.create_episode("Find coffee", [("a.png", png((1, 1, 1)))], [TAP])
    lines = to_jsonl(episode).splitlines()
    turn = json.loads(lines[1])
    for target, problem in [
        ({**turn["target"], "start": [0, 0, 2000, 2000]}, "outside 0-1000"),
        ({**turn["target"], "action": "rm -rf"}, "unknown action"),
        ("Tap", "must be an object"),
    ]:
        hostile = "\n".join([lines[0], json.dumps({**turn, "target": target})])
        with pytest.raises(InvalidExport, match=f"line 2 \\(turn {turn['id']}\\): .*{problem}"):
            from_jsonl(hostile, "episode.jsonl")
    assert store.sessions()[0].id == episode.id  # nothing else was stored


def test_a_session_without_targets_or_task_exports_as_before(store: QaStore) -> None:
    plain = SessionRecord(new_id(), utc_now(), "q")
    store.add_session(plain)
    assert set(json.loads(to_jsonl(plain))) == {
        "format",
        "version",
        "id",
        "created_at",
        "title",
        "replay_of",
    }
