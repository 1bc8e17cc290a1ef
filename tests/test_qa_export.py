"""Export a recorded session as JSONL, CSV and zip; import it into a fresh database (SQLite
and PostgreSQL) and get the same turns, and the same media, back."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import pytest

from autoglm_demo.qa.export import CSV_COLUMNS, InvalidExport, open_export, write_exports
from autoglm_demo.qa.recorder import QaSession, Recorder
from autoglm_demo.qa.records import Feedback, Rating, SessionRecord
from autoglm_demo.qa.store import QaStore
from autoglm_demo.ui.conversation import Status, Turn
from autoglm_demo.ui.metrics import Metrics
from tests.qa_support import REQUEST, Databases, database_fixture, finished_turn, screenshot

dbs = database_fixture()


def recorded_session(folder: Path, store_media: bool) -> tuple[QaStore, SessionRecord]:
    """A session of four turns as the page records them: screenshots (one used twice), a
    Chinese question, audio, a failure, a stop, and feedback with comments."""
    store = QaStore(f"sqlite:///{folder / 'source.sqlite3'}")
    recorder = Recorder(store, store_media=store_media)
    home, search = screenshot(folder / "home.png"), screenshot(folder / "search.png", (200, 30, 30))
    clip = folder / "clip.wav"
    clip.write_bytes(b"RIFF....WAVE")
    session = QaSession()
    turns = [
        finished_turn(
            "Where is search?", 'do(action="Tap", element=[500,100])', [str(home), str(search)]
        )
    ]
    turns[0].metrics = Metrics(
        REQUEST.model, REQUEST.precision, 0.3, 20.0, 50, 12, weight_bytes=2**30
    )
    recorder.record(session, turns, REQUEST)
    turns.append(
        finished_turn("搜索框在哪里？", '点击 do(action="Tap", element=[500,100])', [str(home)])
    )
    recorder.record(session, turns, REQUEST)
    turns.append(
        Turn(
            "", audio=str(clip), status=Status.FAILED, error="The backend refused the request (400)"
        )
    )
    recorder.record(session, turns, REQUEST)
    turns.append(Turn("Tell me a story", answer="Once upon", status=Status.STOPPED))
    recorder.record(session, turns, REQUEST)
    recorder.rate(
        turns[0].record_id or "",
        Feedback(Rating.BAD, 'Wrong element, "search" is higher,\nsee line 2'),
    )
    recorder.rate(turns[1].record_id or "", Feedback(Rating.GOOD))
    recorder.close()
    return store, store.session(session.id)


def test_export_then_import_into_a_fresh_database_gives_the_same_turns(
    dbs: Databases, tmp_path: Path
) -> None:
    source, session = recorded_session(tmp_path, store_media=True)
    jsonl, table, archive = write_exports(session, tmp_path / "out", source.blob)
    assert [p.suffix for p in (jsonl, table, archive)] == [".jsonl", ".csv", ".zip"]

    from_jsonl = QaStore(dbs.new())
    with open_export(jsonl) as imported:
        assert imported.media == ()  # JSONL carries references, not media
        from_jsonl.add_session(imported.session, imported.blobs())
    assert from_jsonl.session(session.id) == session
    assert from_jsonl.blob(session.turns[0].images[0].sha256 or "") is None

    from_zip = QaStore(dbs.new())
    with open_export(archive) as imported:
        from_zip.add_session(imported.session, imported.blobs())
        unpacked = imported.media[0].path
    assert not unpacked.exists()  # the media was unpacked to a temporary folder, now gone
    assert from_zip.session(session.id) == session
    hashes = {
        ref.sha256
        for turn in session.turns
        for ref in (*turn.images, turn.audio)
        if ref and ref.sha256
    }
    assert len(hashes) == 3  # two screenshots and the clip
    for sha256 in hashes:
        assert from_zip.blob(sha256) == source.blob(sha256)
    from_jsonl.close()
    from_zip.close()


def test_the_files_say_what_happened(tmp_path: Path) -> None:
    source, session = recorded_session(tmp_path, store_media=False)
    files = write_exports(session, tmp_path / "out", source.blob)
    assert [p.suffix for p in files] == [".jsonl", ".csv"]  # no media stored: no zip
    jsonl, table = files
    header, *lines = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert (header["format"], header["version"], header["id"]) == (
        "autoglm-qa-session",
        1,
        session.id,
    )
    assert [line["status"] for line in lines] == ["done", "done", "failed", "stopped"]
    assert lines[0]["feedback"]["rating"] == "bad" and lines[1]["text"] == "搜索框在哪里？"
    assert lines[0]["metrics"]["weight_bytes"] == 2**30
    assert table.read_bytes().startswith(b"\xef\xbb\xbf")  # a BOM, for Excel
    with table.open(encoding="utf-8-sig", newline="") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    first = rows[0]
    assert first["question"] == "Where is search?" and first["images"] == "home.png; search.png"
    assert (first["rating"], first["comment"]) == (
        "bad",
        'Wrong element, "search" is higher,\nsee line 2',
    )
    assert (first["model"], first["precision"], first["ttft_s"]) == (
        "autoglm-phone-9b",
        "float32",
        "0.3",
    )
    assert rows[1]["answer"] == '点击 do(action="Tap", element=[500,100])'
    assert (rows[2]["audio"], rows[2]["error"]) == (
        "clip.wav",
        "The backend refused the request (400)",
    )
    assert (rows[3]["status"], rows[3]["ttft_s"], rows[3]["rating"]) == ("stopped", "", "")


def test_files_that_are_not_exports_are_refused_with_where_and_why(tmp_path: Path) -> None:
    source, session = recorded_session(tmp_path, store_media=True)
    jsonl, _, archive = write_exports(session, tmp_path / "out", source.blob)
    lines = jsonl.read_text(encoding="utf-8").splitlines()

    def refused(name: str, content: str | bytes) -> str:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        with pytest.raises(InvalidExport) as error, open_export(path):
            pass
        return str(error.value)

    assert "empty" in refused("empty.jsonl", "\n\n")
    assert "line 3" in refused(
        "broken.jsonl", "\n".join([lines[0], lines[1], "{not json", *lines[3:]])
    )
    assert "missing field 'answer'" in refused(
        "partial.jsonl",
        "\n".join(
            [lines[0], json.dumps({k: v for k, v in json.loads(lines[1]).items() if k != "answer"})]
        ),
    )
    assert "version 2 is not supported" in refused(
        "future.jsonl", lines[0].replace('"version": 1', '"version": 2')
    )
    assert "describe a session" in refused("turns-only.jsonl", "\n".join(lines[1:]))
    assert "one session" in refused("two.jsonl", "\n".join([*lines, lines[0]]))
    assert "not a JSONL or zip" in refused("picture.jsonl", b"\x89PNG\r\n\x1a\n\xff\xfe")

    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(archive) as original, zipfile.ZipFile(tampered, "w") as copy:
        for entry in original.infolist():
            data = original.read(entry)
            copy.writestr(entry, data + b"!" if entry.filename.startswith("media/") else data)
    with pytest.raises(InvalidExport, match="does not match its sha256"), open_export(tampered):
        pass
    no_session = tmp_path / "no-session.zip"
    with zipfile.ZipFile(no_session, "w") as empty:
        empty.writestr("notes.txt", "hello")
    with pytest.raises(InvalidExport, match="no session.jsonl"), open_export(no_session):
        pass
