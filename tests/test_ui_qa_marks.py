"""Marking the right answer in the QA tab, with a real SQLite store and real screenshots:
clicks become the stored target, the turn is scored, and the transcript shows ✓ or ✗."""

from __future__ import annotations

import warnings
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

from autoglm_demo.client import BackendClient
from autoglm_demo.qa.recorder import QaSession, Recorder
from autoglm_demo.qa.records import SessionRecord
from autoglm_demo.qa.store import QaStore
from autoglm_demo.scoring import DEFAULT_TOLERANCE, Region, Target
from autoglm_demo.ui.marking import Draft, Shape
from autoglm_demo.ui.overlay import MARK_COLOUR, TARGET_COLOUR, to_pixels
from autoglm_demo.ui.qa_tab import QaPage
from tests.qa_support import REQUEST, finished_turn

TAP = 'do(action="Tap", element=[500,100])'  # what the recorded model answered
SIZE = (401, 801)


@pytest.fixture
def qa(store: QaStore, tmp_path: Path) -> QaPage:
    return QaPage(Recorder(store, store_media=True), BackendClient("http://127.0.0.1:9"), tmp_path)


def recorded(store: QaStore, folder: Path) -> SessionRecord:
    """One answered turn about a white screenshot, recorded as the page records it."""
    shot = folder / "screen.png"
    Image.new("RGB", SIZE, (255, 255, 255)).save(shot)
    recorder = Recorder(store, store_media=True)
    session = QaSession()
    recorder.record(session, [finished_turn("Open search", TAP, [str(shot)])], REQUEST)
    recorder.close()
    return store.session(session.id)


def click(pixel: tuple[int, int]) -> gr.SelectData:
    return gr.SelectData(None, {"index": list(pixel), "value": None})


def quietly(call):  # type: ignore[no-untyped-def]
    """Run a handler whose toasts (outside a page, Gradio warns them) are not the point."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


def test_two_clicks_mark_a_box_that_is_stored_and_scored(
    qa: QaPage, store: QaStore, tmp_path: Path
) -> None:
    session = recorded(store, tmp_path)
    [turn] = session.turns
    picker = qa.marks.turns(session.id, None)
    assert picker.value == turn.id

    image, action, shape, text, draft, hint, score = qa.marks.show(session.id, turn.id, 0.05, None)
    assert (action, shape, draft) == ("Tap", "box", Draft())
    assert "No right answer is marked" in score
    with Image.open(image) as drawn:  # the model's tap, drawn where it answered
        assert drawn.getpixel(to_pixels((500, 100), drawn.size)) == MARK_COLOUR

    # Two opposite corners of a box around the tapped spot, in pixels of the screenshot.
    draft, image, hint = qa.marks.click(session.id, turn.id, draft, "", click((300, 120)), None)
    assert hint == "now click the opposite corner"
    draft, image, hint = qa.marks.click(session.id, turn.id, draft, "", click((100, 40)), None)
    assert draft.complete and hint.startswith("Ready")
    with Image.open(image) as drawn:
        assert drawn.getpixel((200, 40)) == TARGET_COLOUR  # the box's top edge, drawn at once

    image, score, draft = quietly(
        lambda: qa.marks.save(session.id, turn.id, draft, "", DEFAULT_TOLERANCE, None)
    )
    stored = store.session(session.id).turns[0].target
    assert stored == Target("Tap", Region(250, 50, 750, 150))  # 100/400*1000, 40/800*1000, …
    assert "✓" in score and "the marked right answer" in score  # the verdict, and the legend
    transcript = qa.reread(session.id, DEFAULT_TOLERANCE, None)
    assert any("✓" in str(message["content"]) for message in transcript)


def test_a_mark_the_answer_misses_shows_the_reason_and_can_be_removed(
    qa: QaPage, store: QaStore, tmp_path: Path
) -> None:
    session = recorded(store, tmp_path)
    [turn] = session.turns
    draft = Draft("Tap", Shape.POINT)
    draft, _, _ = qa.marks.click(session.id, turn.id, draft, "", click((200, 700)), None)
    _, score, _ = quietly(lambda: qa.marks.save(session.id, turn.id, draft, "", 0.05, None))
    assert "✗" in score and "start point off target" in score
    _, opened_header, transcript, _, _ = qa.open(
        gr.SelectData(None, {"index": [0, 0], "value": "", "row_value": [session.id]}), None
    )
    assert any("✗" in str(message["content"]) for message in transcript)

    _, score, draft = quietly(lambda: qa.marks.clear(session.id, turn.id, 0.05, None))
    assert store.session(session.id).turns[0].target is None
    assert "No right answer is marked" in score and draft == Draft()


def test_the_tolerance_decides_whether_a_near_tap_hits_a_marked_point(
    qa: QaPage, store: QaStore, tmp_path: Path
) -> None:
    session = recorded(store, tmp_path)
    [turn] = session.turns
    draft = Draft("Tap", Shape.POINT)
    # Pixel (200, 120) is [500,150]: 40 pixels below the tap at [500,100]. The diagonal is
    # 896 pixels, so 5% of it (45) takes the tap in and 2% (18) does not.
    draft, _, _ = qa.marks.click(session.id, turn.id, draft, "", click((200, 120)), None)
    _, score, _ = quietly(lambda: qa.marks.save(session.id, turn.id, draft, "", 0.05, None))
    assert store.session(session.id).turns[0].target == Target("Tap", Region.point(500, 150))
    assert "✓" in score
    assert "start point off target" in qa.marks.rescore(session.id, turn.id, 0.02, None)
    assert "✗" in str(qa.reread(session.id, 0.02, None))


def test_an_incomplete_mark_is_refused_with_what_it_lacks(
    qa: QaPage, store: QaStore, tmp_path: Path
) -> None:
    session = recorded(store, tmp_path)
    [turn] = session.turns
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome = qa.marks.save(session.id, turn.id, Draft("Type"), " ", 0.05, None)
    assert outcome == (gr.skip(),) * 3
    assert "Write the text the action must have" in str(caught[-1].message)
    assert store.session(session.id).turns[0].target is None
    _, score, _ = quietly(
        lambda: qa.marks.save(session.id, turn.id, Draft("Type"), "search", 0.05, None)
    )
    assert "✗" in score and "Tap instead of Type" in score


def test_an_unanswered_episode_step_is_marked_but_not_scored(
    qa: QaPage, store: QaStore, tmp_path: Path
) -> None:
    shot = tmp_path / "step.png"
    Image.new("RGB", SIZE, (255, 255, 255)).save(shot)
    episode = store.create_episode(
        "Open search", [("step-1.png", shot.read_bytes())] * 2, [None] * 2
    )
    first, second = episode.turns
    draft = Draft("Tap", Shape.POINT)
    draft, _, _ = qa.marks.click(episode.id, first.id, draft, "", click((200, 40)), None)
    _, score, _ = quietly(lambda: qa.marks.save(episode.id, first.id, draft, "", 0.05, None))
    assert "Not answered yet" in score and "✗" not in score
    assert "✗" not in str(qa.reread(episode.id, 0.05, None))
    # The picker keeps the step just marked, and says it is marked.
    picker = qa.marks.turns(episode.id, None, first.id)
    assert picker.value == first.id
    assert dict((value, name) for name, value in picker.choices) == {
        first.id: "#1 · Open search · marked",
        second.id: "#2 · …",
    }


def test_why_an_answer_missed_is_said_in_the_page_s_language(
    qa: QaPage, store: QaStore, tmp_path: Path
) -> None:
    session = recorded(store, tmp_path)
    [turn] = session.turns
    chinese = gr.Request(headers={"accept-language": "zh-CN,zh;q=0.9"})
    english = gr.Request(headers={"accept-language": "en-GB"})
    launch = Draft("Launch")
    _, score, _ = quietly(lambda: qa.marks.save(session.id, turn.id, launch, "微信", 0.05, chinese))
    assert "✗ 错误: Tap，而不是 Launch" in score
    assert "✗ wrong: Tap instead of Launch" in qa.marks.rescore(session.id, turn.id, 0.05, english)
    transcript = str(qa.reread(session.id, 0.05, chinese))
    assert "Tap，而不是 Launch" in transcript and "instead of" not in transcript

    draft = Draft("Tap", Shape.POINT)
    draft, _, _ = qa.marks.click(session.id, turn.id, draft, "", click((200, 700)), None)
    _, score, _ = quietly(lambda: qa.marks.save(session.id, turn.id, draft, "", 0.05, chinese))
    assert "点击位置或滑动起点不在目标上" in score and "off target" not in score
