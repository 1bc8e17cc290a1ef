"""The episode set export as people reach it: `python -m autoglm_demo export-episodes` and
the QA tab's button, on a real SQLite store holding an uploaded, marked episode."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from autoglm_demo.qa.export import write_zip
from autoglm_demo.qa.recorder import Recorder
from autoglm_demo.qa.records import SessionRecord, new_id, utc_now
from autoglm_demo.qa.store import QaStore
from autoglm_demo.scoring import Region, Target
from autoglm_demo.ui.qa_tab import QaPage

TAP = Target("Tap", Region(400, 80, 600, 121))
TYPE = Target("Type", text="hi")


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (90, 200), colour).save(buffer, "PNG")
    return buffer.getvalue()


def make_episode(store: QaStore, task: str = "Say hi") -> SessionRecord:
    return store.create_episode(
        task, [("a.png", png((1, 1, 1))), ("b.png", png((2, 2, 2)))], [TAP, TYPE]
    )


def read_set(path: Path) -> tuple[list[dict], dict[str, list]]:
    """The zip's JSONL lines, and its sample_messages files by name."""
    with zipfile.ZipFile(path) as archive:
        lines = [json.loads(line) for line in archive.read("episodes.jsonl").splitlines()]
        samples = {
            name: json.loads(archive.read(name))
            for name in archive.namelist()
            if name.startswith("sample_messages/")
        }
    return lines, samples


def export_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autoglm_demo", "export-episodes", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_writes_the_named_and_imported_episodes(tmp_path: Path) -> None:
    # One episode made elsewhere and handed over as an export zip, one already stored.
    source = QaStore(f"sqlite:///{tmp_path / 'source.sqlite3'}")
    handed = make_episode(source, "Open settings")
    blobs = [source.blob(ref.sha256 or "") for turn in handed.turns for ref in turn.images]
    write_zip(handed, dict.fromkeys(b for b in blobs if b), tmp_path / "handed.zip")
    source.close()
    db = f"sqlite:///{tmp_path / 'qa.sqlite3'}"
    store = QaStore(db)
    stored = make_episode(store)
    plain = SessionRecord(new_id(), utc_now(), "q")
    store.add_session(plain, [])
    unmarked = store.create_episode("Nothing marked", [("a.png", png((3, 3, 3)))], [None])
    store.close()
    out = tmp_path / "set.zip"

    done = export_command(
        "--session", stored.id, "--import", str(tmp_path / "handed.zip"), "--qa-db", db,
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"Wrote {out}: 2 episodes, 4 steps" in done.stderr
    lines, samples = read_set(out)
    assert [(line["episode"], line["step"]) for line in lines] == [
        (stored.id, 0), (stored.id, 1), (handed.id, 0), (handed.id, 1),
    ]  # fmt: skip
    assert [line["task"] for line in lines] == ["Say hi"] * 2 + ["Open settings"] * 2
    assert lines[1]["gold"]["action"] == 'do(action="Type", text="hi")'
    assert lines[1]["history"] == [{"think": "", "answer": 'do(action="Tap", element=[500,100])'}]
    assert len(samples) == 4 and all(line["sample_messages"] in samples for line in lines)
    messages = samples[lines[3]["sample_messages"]]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"][0]["text"].startswith("Open settings")
    assert messages[3]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")

    common = ["--qa-db", db, "--out", str(tmp_path / "refused.zip")]
    unknown = export_command("--session", "f" * 32, *common)
    assert unknown.returncode != 0 and f"no QA session {'f' * 32}" in unknown.stderr
    not_episode = export_command("--session", stored.id, "--session", plain.id, *common)
    assert not_episode.returncode != 0
    assert f"session {plain.id} is not an episode" in not_episode.stderr
    no_mark = export_command("--session", unmarked.id, *common)
    assert no_mark.returncode != 0 and "has no marked step" in no_mark.stderr
    nothing = export_command(*common)
    assert nothing.returncode != 0 and "name at least one --session or --import" in nothing.stderr
    for failed in (unknown, not_episode, no_mark, nothing):
        assert failed.stderr.startswith("export-episodes: ") and failed.stderr.count("\n") == 1
    assert not (tmp_path / "refused.zip").exists()
    assert list(tmp_path.glob("refused.zip*")) == []  # no half zip either


@pytest.fixture
def qa(store: QaStore, tmp_path: Path) -> Iterator[QaPage]:
    recorder = Recorder(store, store_media=True)
    yield QaPage(recorder, None, tmp_path / "files")  # type: ignore[arg-type]  # no backend asked
    recorder.close()


def test_the_button_exports_the_chosen_sessions_or_else_the_opened_one(
    qa: QaPage, store: QaStore, tmp_path: Path
) -> None:
    first, second = make_episode(store), make_episode(store, "Open settings")
    (chosen,) = qa.export_episodes(first.id, [second.id, first.id], None) or []
    assert Path(chosen).is_relative_to(tmp_path / "files" / "qa-exports")
    lines, samples = read_set(Path(chosen))
    assert [line["episode"] for line in lines] == [second.id] * 2 + [first.id] * 2
    assert len(samples) == 4
    (opened,) = qa.export_episodes(first.id, [], None) or []
    assert opened != chosen and {line["episode"] for line in read_set(Path(opened))[0]} == {
        first.id
    }


def test_the_button_says_why_it_exported_nothing(
    qa: QaPage, store: QaStore, tmp_path: Path
) -> None:
    plain = SessionRecord(new_id(), utc_now(), "<b>q</b>")
    store.add_session(plain, [])
    episode = make_episode(store)
    for opened, chosen, said in [
        (None, None, "Open a session first"),
        (plain.id, [], f"Could not export the episode set: session {plain.id} is not an episode"),
        (None, [episode.id, "f" * 32], f"no QA session {'f' * 32}"),
    ]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert qa.export_episodes(opened, chosen, None) is None
        assert said in str(caught[-1].message)
    assert list((tmp_path / "files").rglob("*.zip")) == []
