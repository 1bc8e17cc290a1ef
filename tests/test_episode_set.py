"""The project's own episode set: drawn screens whose gold targets sit where the elements
were drawn, written as QA exports that import back with their targets, byte for byte the
same on every run."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from autoglm_demo.engine.ocr import ImageReader
from autoglm_demo.qa.export import open_export
from autoglm_demo.qa.store import QaStore
from autoglm_demo.scoring import score_answer
from tools.episode_set import Episode, Step, episode_set, write_set


@pytest.fixture(scope="module")
def episodes() -> list[Episode]:
    return episode_set()


def test_the_set_is_multi_step_tasks_in_both_languages_with_every_kind_of_action(
    episodes: list[Episode],
) -> None:
    steps = [step for episode in episodes for step in episode.steps]
    assert len(steps) >= 30
    assert Counter(episode.language for episode in episodes) == {"en": 7, "zh": 7}
    assert {step.target.action for step in steps} == {
        "Launch",
        "Tap",
        "Type",
        "Swipe",
        "Back",
        "Home",
        "finish",
    }
    assert all(episode.steps[-1].target.action == "finish" for episode in episodes)
    assert len({episode.key for episode in episodes}) == len(episodes)


def test_each_gold_action_is_a_hit_and_a_neighbouring_one_a_miss(episodes: list[Episode]) -> None:
    """The targets mean what they say to the scorer: the gold answer, as the model would
    write it, scores a hit; a tap on the screen's other half does not."""
    for episode in episodes:
        for step in episode.steps:
            answer = gold_answer(step)
            assert score_answer(answer, step.target, step.screen.image.size).hit, (
                episode.key,
                answer,
            )
            if step.target.action == "Tap":
                x, y = step.target.start.centre
                elsewhere = f'do(action="Tap", element=[{int(x)},{(int(y) + 500) % 1000}])'
                assert not score_answer(elsewhere, step.target, step.screen.image.size).hit


def gold_answer(step: Step) -> str:
    target = step.target
    if target.action == "Tap":
        x, y = target.start.centre
        return f'do(action="Tap", element=[{round(x)},{round(y)}])'
    if target.action == "Swipe":
        (x1, y1), (x2, y2) = target.start.centre, target.end.centre
        return f'do(action="Swipe", start=[{round(x1)},{round(y1)}], end=[{round(x2)},{round(y2)}])'
    if target.action == "Type":
        return f'do(action="Type", text="{target.text}")'
    if target.action == "Launch":
        return f'do(action="Launch", app="{target.text}")'
    if target.action == "finish":
        return 'finish(message="done")'
    return f'do(action="{target.action}")'


@pytest.mark.slow
def test_ocr_finds_each_tap_targets_label_inside_its_box(episodes: list[Episode]) -> None:
    """Read each screen a Tap or Launch is gold on with the real OCR: the element's label is
    there, and for a Tap the label's centre (what an OCR-reading model would tap) lies
    inside the target box."""
    reader = ImageReader()
    for episode in episodes:
        for step in episode.steps:
            if step.target.action not in {"Tap", "Launch"}:
                continue
            label = step.label if step.target.action == "Tap" else step.target.text
            lines = reader.read_lines(step.screen.image)
            found = [line for line in lines if squeeze(line.text) == squeeze(label)]
            assert found, (
                f"{episode.key}: {label!r} not on screen; OCR: {[line.text for line in lines]}"
            )
            if step.target.action == "Tap":
                box = step.target.start
                x, y = found[0].centre
                assert box.x1 <= x <= box.x2 and box.y1 <= y <= box.y2, (episode.key, label)


def squeeze(text: str | None) -> str:
    return "".join((text or "").split()).casefold()


def test_the_export_imports_back_with_its_targets_and_screens(
    episodes: list[Episode], tmp_path: Path
) -> None:
    chosen = [episodes[0], episodes[-1]]  # one English, one Chinese
    paths = write_set(tmp_path / "set", chosen)
    store = QaStore(f"sqlite:///{tmp_path / 'qa.db'}")
    try:
        for path, episode in zip(paths, chosen, strict=True):
            with open_export(path) as imported:
                store.add_session(imported.session, imported.blobs())
            session = store.session(imported.session.id)
            assert session.task == episode.task
            assert [turn.target for turn in session.turns] == [s.target for s in episode.steps]
            for turn, step in zip(session.turns, episode.steps, strict=True):
                blob = store.blob(turn.images[0].sha256)
                assert blob and blob.mime == "image/png"
                with Image.open(io.BytesIO(blob.data)) as image:
                    assert image.tobytes() == step.screen.image.tobytes()
    finally:
        store.close()


def test_the_output_is_the_same_bytes_on_every_run(episodes: list[Episode], tmp_path: Path) -> None:
    chosen = episodes[:2]
    first = write_set(tmp_path / "first", chosen)
    second = write_set(tmp_path / "second", episode_set()[:2])
    assert [path.name for path in first] == [path.name for path in second]
    assert [path.read_bytes() for path in first] == [path.read_bytes() for path in second]
