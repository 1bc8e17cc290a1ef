"""Accuracy per variant and episode dry runs in the QA tab, with a real SQLite store and a
scripted backend serving two variants whose answers are known: "full" taps the search box,
"int4" taps the bottom of the screen. So which answers hit, and where the variants
disagree, is known before the run."""

from __future__ import annotations

import asyncio
import io
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from PIL import Image

from autoglm_demo.client import AnswerDelta, BackendModel, ChatOptions, Finish, ReasoningDelta
from autoglm_demo.qa.evaluate import Progress
from autoglm_demo.qa.recorder import QaSession, Recorder
from autoglm_demo.qa.records import SessionRecord
from autoglm_demo.qa.store import QaStore
from autoglm_demo.scoring import Region, Target
from autoglm_demo.ui.overlay import MARK_COLOUR, TARGET_COLOUR, to_pixels
from autoglm_demo.ui.qa_accuracy import with_progress
from autoglm_demo.ui.qa_episodes import step_order
from autoglm_demo.ui.qa_tab import QaPage
from tests.qa_support import REQUEST, finished_turn

ANSWERS = {
    "demo-full": 'do(action="Tap", element=[500,100])',
    "demo-int4": 'do(action="Tap", element=[500,900])',
}
SEARCH_BOX = Target("Tap", Region(300, 50, 700, 150))  # where the search box is


class TwoVariants:
    """Stands in for BackendClient: lists two variants, answers each with its fixed tap."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, list[dict[str, Any]]]] = []
        self.options: list[ChatOptions] = []

    async def list_models(self) -> list[BackendModel]:
        return [
            BackendModel(model, {"precision": model.split("-")[1], "capabilities": {}})
            for model in ANSWERS
        ]

    async def stream_chat(
        self, model: str, messages: list[dict[str, Any]], options: ChatOptions, **_: Any
    ) -> AsyncIterator[Any]:
        self.asked.append((model, messages))
        self.options.append(options)
        yield ReasoningDelta(f"{model} looks for the search box.")
        yield AnswerDelta(ANSWERS[model])
        yield Finish("stop")


@pytest.fixture
def backend() -> TwoVariants:
    return TwoVariants()


@pytest.fixture
def qa(store: QaStore, backend: TwoVariants, tmp_path: Path) -> Iterator[QaPage]:
    recorder = Recorder(store, store_media=True)
    yield QaPage(recorder, backend, tmp_path)  # type: ignore[arg-type]
    recorder.close()


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (401, 801), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def recorded_session(store: QaStore, folder: Path, marks: list[Target | None]) -> SessionRecord:
    """A recorded session of one screenshot per turn, each turn marked with `marks`."""
    recorder = Recorder(store, store_media=True)
    session, turns = QaSession(), []
    for number, _ in enumerate(marks):
        shot = folder / f"shot-{number}.png"
        shot.write_bytes(png((255, 255, 250 - number)))
        turns.append(finished_turn(f"Open search {number}", "", [str(shot)]))
        recorder.record(session, turns, REQUEST)
    recorder.close()
    for record, mark in zip(store.session(session.id).turns, marks, strict=True):
        store.set_target(record.id, mark)
    return store.session(session.id)


def run(generator: AsyncIterator[Any]) -> list[Any]:
    async def collect() -> list[Any]:
        return [item async for item in generator]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # toasts, outside a page
        return asyncio.run(collect())


def test_accuracy_per_variant_with_intervals_and_the_turns_they_disagree_on(
    qa: QaPage, store: QaStore, tmp_path: Path
) -> None:
    session = recorded_session(store, tmp_path, [SEARCH_BOX, SEARCH_BOX, None])
    shown = run(qa.accuracy.run([session.id], list(ANSWERS), 0.05, None))

    progress = [status for status, _, _ in shown[1:-1]]
    assert progress[0].startswith("Asked 1 of 6") and progress[-1].startswith("Asked 6 of 6")
    summary, shown_table, disagreements = shown[-1]
    assert shown_table.visible is True
    table = shown_table.value
    assert summary.startswith("2 marked answers per variant, from 1 session(s)")
    assert table["headers"] == ["Variant", "Model", "Hits", "Scored", "Share", "95% interval"]
    full, int4 = table["data"]
    # 2 of 2 hit: Wilson's interval for 2/2 is 34%-100%; 0 of 2: 0%-66%.
    assert full == ["demo-full", "demo-full", 2, 2, "100%", "34% – 100%"]
    assert int4 == ["demo-int4", "demo-int4", 0, 2, "0%", "0% – 66%"]
    # Both marked turns are hit by one variant and missed by the other; the unmarked one is
    # in neither count.
    assert disagreements.count("<tr>") == 1 + 2
    assert "Open search 0" in disagreements and "Open search 2" not in disagreements
    assert "✗ wrong: start point off target" in disagreements


def test_nothing_is_asked_without_sessions_or_variants(qa: QaPage, backend: TwoVariants) -> None:
    assert run(qa.accuracy.run([], list(ANSWERS), 0.05, None)) == []
    assert run(qa.accuracy.run(["x"], [], 0.05, None)) == []
    assert backend.asked == []


def test_an_unknown_variant_is_named_in_the_error(
    qa: QaPage, store: QaStore, tmp_path: Path
) -> None:
    session = recorded_session(store, tmp_path, [SEARCH_BOX])
    with pytest.raises(gr.Error, match="int3"):
        run(qa.accuracy.run([session.id], ["int3"], 0.05, None))


def test_the_choices_list_sessions_and_the_served_variants(
    qa: QaPage, store: QaStore, tmp_path: Path
) -> None:
    from autoglm_demo.ui.models import ServedModels

    session = recorded_session(store, tmp_path, [SEARCH_BOX])
    served = ServedModels(tuple(asyncio.run(TwoVariants().list_models())))
    sessions, variants = qa.accuracy.choices([session.id, "gone"], served, ["demo-int4"])
    assert [value for _, value in sessions.choices] == [session.id]
    assert sessions.value == [session.id]  # a session no longer listed is dropped
    assert [value for _, value in variants.choices] == list(ANSWERS)
    assert variants.value == ["demo-int4"]


def test_stopping_the_progress_cancels_the_run() -> None:
    cancelled = asyncio.Event()

    async def endless(on_step) -> None:  # type: ignore[no-untyped-def]
        try:
            for done in range(1, 1000):
                on_step(Progress("full", "s", done, 1000, None))
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def first_two() -> list[Any]:
        steps = with_progress(endless)
        taken = [await anext(steps), await anext(steps)]
        await steps.aclose()
        return taken

    taken = asyncio.run(first_two())
    assert [step.done for step in taken] == [1, 2]
    assert cancelled.is_set()


# Episodes.


def test_screenshots_are_taken_in_the_order_of_their_names() -> None:
    names = ["/u/a/step-10.png", "/u/b/step-2.png", "/u/c/Step-1.png"]
    assert sorted(names, key=step_order) == [
        "/u/c/Step-1.png",
        "/u/b/step-2.png",
        "/u/a/step-10.png",
    ]


def test_an_uploaded_episode_is_marked_then_dry_run_as_a_strip(
    qa: QaPage, store: QaStore, backend: TwoVariants, tmp_path: Path
) -> None:
    files = []
    for number, name in enumerate(["step-2.png", "step-1.png"]):
        path = tmp_path / "upload" / str(number) / name
        path.parent.mkdir(parents=True)
        path.write_bytes(png((255, 255, 200 + number)))
        files.append(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        episode_id, emptied, _ = qa.episodes.create("Search for Wi-Fi", files, None)
    episode = store.session(episode_id)
    assert episode.task == "Search for Wi-Fi" and emptied is None
    assert [step.images[0].name for step in episode.turns] == ["step-1.png", "step-2.png"]
    store.set_target(episode.turns[0].id, SEARCH_BOX)  # the second step stays unmarked

    chosen = ChatOptions(temperature=0.3, top_p=0.9, max_tokens=96, enable_thinking=False)
    shown = run(qa.episodes.dry_run(episode_id, "demo-full", 0.05, chosen, None))
    summary, strip, steps = shown[-1]
    assert backend.options == [chosen, chosen]  # the answer settings, not the recorded ones
    assert summary == "demo-full: 1 of 1 marked steps right (2 steps)."
    assert [caption for _, caption in strip] == [
        '1. ✓ do(action="Tap", element=[500,100])',
        '2. – do(action="Tap", element=[500,100])',
    ]
    with Image.open(strip[0][0]) as drawn:  # the answer and the mark, on the step's screen
        assert drawn.getpixel(to_pixels((500, 100), drawn.size)) == MARK_COLOUR
        assert drawn.getpixel(to_pixels((300, 100), drawn.size)) == TARGET_COLOUR
    assert "demo-full looks for the search box." in steps  # each step's reasoning
    assert "✓ right" in steps
    # Asked as the official agent asks: the second step carries the first one's answer,
    # and only its own screenshot.
    model, messages = backend.asked[-1]
    sent_images = [
        part
        for message in messages
        if isinstance(message["content"], list)
        for part in message["content"]
        if part.get("type") == "image_url"
    ]
    assert model == "demo-full" and len(sent_images) == 1
    assert any(ANSWERS["demo-full"] in str(message["content"]) for message in messages)


def test_a_dry_run_needs_an_episode(qa: QaPage, store: QaStore, tmp_path: Path) -> None:
    session = recorded_session(store, tmp_path, [SEARCH_BOX])
    assert run(qa.episodes.dry_run(session.id, "demo-full", 0.05, ChatOptions(), None)) == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qa.episodes.name_episode(session.id, "Open search", None)
    assert store.session(session.id).task == "Open search"
    shown = run(qa.episodes.dry_run(session.id, "demo-full", 0.05, ChatOptions(), None))
    assert shown[-1][0] == "demo-full: 1 of 1 marked steps right (1 steps)."


def test_an_episode_with_a_file_that_is_no_image_is_refused(
    qa: QaPage, store: QaStore, tmp_path: Path
) -> None:
    bogus = tmp_path / "step-1.png"
    bogus.write_text("not an image")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome = qa.episodes.create("Search", [str(bogus)], None)
    assert outcome == (gr.skip(),) * 3
    assert "step-1.png is not a PNG, JPEG or WebP image" in str(caught[-1].message)
    assert store.sessions() == []
