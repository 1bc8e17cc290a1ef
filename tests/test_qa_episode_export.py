"""The episode set export: JSONL lines with image, task, history and gold action, and the
sample_messages files Open-AutoGLM's deployment check reads, in the official agent's shape."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from autoglm_demo.qa.episode_export import NotAnEpisode, gold_action, write_episode_set
from autoglm_demo.qa.records import RecordStatus, SessionRecord, new_id, utc_now
from autoglm_demo.qa.store import QaStore
from autoglm_demo.scoring import Region, Target

TAP = Target("Tap", Region(400, 80, 600, 121))  # centre (500, 100.5): written [500,100]
TYPE = Target("Type", text='say "hi"')
SCREEN = '{"current_app": "System Home"}'


def png(colour: tuple[int, int, int], size: tuple[int, int] = (90, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def test_gold_actions_are_written_as_the_model_writes_them() -> None:
    assert gold_action(TAP) == 'do(action="Tap", element=[500,100])'
    swipe = Target("Swipe", Region.point(500, 800), Region(450, 100, 550, 300))
    assert gold_action(swipe) == 'do(action="Swipe", start=[500,800], end=[500,200])'
    assert gold_action(TYPE) == 'do(action="Type", text="say \\"hi\\"")'
    assert gold_action(Target("Launch", text="微信")) == 'do(action="Launch", app="微信")'
    assert gold_action(Target("Back")) == 'do(action="Back")'
    assert gold_action(Target("finish")) == 'finish(message="")'


def test_an_episode_set_holds_each_step_once_with_its_history_and_gold(
    store: QaStore, tmp_path: Path
) -> None:
    home, other = png((1, 1, 1)), png((9, 9, 9), (120, 240))
    episode = store.create_episode(
        "Say hi", [("a.png", home), ("b.png", other), ("c.png", home)], [TAP, None, TYPE]
    )
    target = write_episode_set([episode], store.blob, tmp_path / "set.zip")
    with zipfile.ZipFile(target) as archive:
        names = sorted(archive.namelist())
        lines = [json.loads(line) for line in archive.read("episodes.jsonl").splitlines()]
        samples = {
            name: json.loads(archive.read(name)) for name in names if name.startswith("sample_")
        }
        images = {name: archive.read(name) for name in names if name.startswith("images/")}
    assert len(images) == 2 and home in images.values() and other in images.values()
    assert [line["step"] for line in lines] == [0, 1, 2]
    assert {line["task"] for line in lines} == {"Say hi"}
    assert lines[0]["image"] == lines[2]["image"] and images[lines[1]["image"]] == other
    assert [line["screen"] for line in lines] == [[90, 200], [120, 240], [90, 200]]
    assert lines[0]["gold"] == {
        "target": {"action": "Tap", "start": [400, 80, 600, 121], "end": None, "text": None},
        "action": 'do(action="Tap", element=[500,100])',
    }
    assert lines[1]["gold"] is None and lines[1]["sample_messages"] is None
    # Nothing answered yet: the history is the gold path (the unmarked step said nothing).
    assert lines[2]["history"] == [
        {"think": "", "answer": 'do(action="Tap", element=[500,100])'},
        {"think": "", "answer": ""},
    ]

    # sample_messages: the request at step 3 as the official agent sends it.
    assert sorted(samples) == [lines[0]["sample_messages"], lines[2]["sample_messages"]]
    messages = samples[lines[2]["sample_messages"]]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert "Android phone" in messages[0]["content"]
    assert messages[1]["content"] == [{"type": "text", "text": f"Say hi\n\n{SCREEN}"}]
    assert (
        messages[2]["content"]
        == '<think></think><answer>do(action="Tap", element=[500,100])</answer>'
    )
    image, text = messages[3]["content"]
    assert text == {"type": "text", "text": f"** Screen Info **\n\n{SCREEN}"}
    uri = image["image_url"]["url"]
    assert uri.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as sent:
        assert sent.size == (90, 200)


def test_recorded_answers_make_the_history(store: QaStore, tmp_path: Path) -> None:
    episode = store.create_episode(
        "Say hi", [("a.png", png((1, 1, 1))), ("b.png", png((2, 2, 2)))], [TAP, TYPE]
    )
    answered = dataclasses.replace(
        episode.turns[0], status=RecordStatus.DONE, reasoning="Tap the box.", answer="do(x)"
    )
    recorded = dataclasses.replace(episode, turns=(answered, episode.turns[1]))
    with zipfile.ZipFile(write_episode_set([recorded], store.blob, tmp_path / "s.zip")) as zf:
        last = json.loads(zf.read("episodes.jsonl").splitlines()[1])
        messages = json.loads(zf.read(last["sample_messages"]))
    assert last["history"] == [{"think": "Tap the box.", "answer": "do(x)"}]
    assert messages[2]["content"] == "<think>Tap the box.</think><answer>do(x)</answer>"


def test_a_plain_session_is_no_episode(store: QaStore, tmp_path: Path) -> None:
    plain = SessionRecord(new_id(), utc_now(), "q")
    with pytest.raises(NotAnEpisode, match=f"session {plain.id} is not an episode"):
        write_episode_set([plain], store.blob, tmp_path / "x.zip")


def test_an_episode_with_no_marked_step_is_refused(store: QaStore, tmp_path: Path) -> None:
    episode = store.create_episode("Say hi", [("a.png", png((1, 1, 1)))], [None])
    with pytest.raises(NotAnEpisode, match=f"episode {episode.id} has no marked step"):
        write_episode_set([episode], store.blob, tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()
