"""Several page processes writing one database at once, and page processes killed with
SIGKILL while writing or while an answer streams (tests/qa_writer.py is the process)."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from autoglm_demo.qa import schema
from autoglm_demo.qa.records import RecordStatus
from autoglm_demo.qa.store import QaStore
from tests.qa_support import Databases, database_fixture, screenshot

ROOT = Path(__file__).resolve().parent.parent

dbs = database_fixture()


def writer(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.qa_writer", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def killed_after(process: subprocess.Popen[str], lines: int) -> list[str]:
    """The first `lines` lines the process printed; it is killed right after the last one."""
    assert process.stdout
    printed = [process.stdout.readline().strip() for _ in range(lines)]
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL and all(printed), printed
    return printed


def sqlite_intact(database: Path) -> None:
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_concurrent_writers_from_several_sessions_lose_nothing(
    dbs: Databases, tmp_path: Path
) -> None:
    """Four processes (page replicas) on one fresh database, three sessions each recording
    from its own thread; every turn references the same screenshot."""
    url = dbs.new()
    image = str(screenshot(tmp_path / "shared.png"))
    processes = [writer("many", url, "3", "15", image) for _ in range(4)]
    recorded: dict[str, list[str]] = {}
    for process in processes:
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0
        recorded.update(json.loads(output))
    assert len(recorded) == 12

    store = QaStore(url)
    for session_id, turn_ids in recorded.items():
        session = store.session(session_id)
        assert [t.id for t in session.turns] == turn_ids
        assert [t.seq for t in session.turns] == list(range(15))
        assert [t.text for t in session.turns] == [f"{session_id} question {n}" for n in range(15)]
        assert session.turns[-1].context == tuple(turn_ids[:-1])
    with store.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(schema.turns)) == 180
        assert connection.scalar(select(func.count()).select_from(schema.media)) == 1  # stored once
    store.close()


def test_a_writer_killed_mid_write_loses_at_most_the_turn_in_flight(tmp_path: Path) -> None:
    database = tmp_path / "qa.sqlite3"
    image = str(screenshot(tmp_path / "shot.png"))
    committed = killed_after(writer("steady", f"sqlite:///{database}", image), 25)
    sqlite_intact(database)
    store = QaStore(f"sqlite:///{database}")  # opens (and checks its schema) as after a crash
    [summary] = store.sessions()
    stored = [turn.id for turn in store.session(summary.id).turns]
    assert stored[: len(committed)] == committed  # every committed turn, in order
    assert len(stored) <= len(committed) + 1  # and at most the one being written
    store.close()


def test_a_page_killed_while_an_answer_streams_leaves_a_readable_database(
    random_backend: str, tmp_path: Path
) -> None:
    database = tmp_path / "qa.sqlite3"
    committed, streaming = killed_after(
        writer("stream", f"sqlite:///{database}", random_backend), 2
    )
    assert committed.startswith("committed ") and streaming == "streaming"
    sqlite_intact(database)
    store = QaStore(f"sqlite:///{database}")
    [summary] = store.sessions()
    [answered] = store.session(summary.id).turns  # the streaming turn was never finished
    assert answered.id == committed.split()[1]
    assert answered.status is RecordStatus.DONE and answered.text == "hello" and answered.answer
    store.close()
