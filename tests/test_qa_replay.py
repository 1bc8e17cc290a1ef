"""Replay: a recorded session asked again of another model (real servers on loopback), and
the diff of old and new answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from autoglm_demo.answering import AnswerRequest, stream_answer
from autoglm_demo.client import BackendClient, ChatOptions, ClientEvent
from autoglm_demo.conversation import Turn
from autoglm_demo.qa.media import MediaFolder
from autoglm_demo.qa.recorder import QaSession, Recorder
from autoglm_demo.qa.records import SessionRecord, TurnRecord
from autoglm_demo.qa.replay import Comparison, diff_text, pair, replay
from autoglm_demo.qa.store import QaStore
from autoglm_demo.ui import handlers
from autoglm_demo.ui.qa_tab import QaPage
from tests.qa_support import screenshot

TAP = 'do(action="Tap", element=[500,100])'
OPTIONS = ChatOptions(temperature=0, max_tokens=40, seed=1)


class Listening(BackendClient):
    """The real client, noting the messages of every request it sends."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.sent: list[list[dict[str, Any]]] = []

    async def stream_chat(
        self, model: str, messages: list[dict[str, Any]], options: ChatOptions, **_: Any
    ) -> AsyncIterator[ClientEvent]:
        self.sent.append(messages)
        async for event in super().stream_chat(model, messages, options):
            yield event


def record_session(backend: str, recorder: Recorder, questions: list[Turn]) -> SessionRecord:
    """Ask the questions one after the other on the page's path, recording each turn."""
    session = QaSession()
    request = AnswerRequest("autoglm-phone-9b", "full", "Answer with one action.", OPTIONS)

    def record(finished: list[Turn]) -> None:
        recorder.record(session, finished, request)

    async def ask() -> None:
        client = BackendClient(backend)
        turns: list[Turn] = []
        for question in questions:
            turns.append(question)
            async for _ in stream_answer(client, turns, request, on_finished=record):
                pass
        await client.close()

    asyncio.run(ask())
    recorder.flush()
    return recorder.store.session(session.id)


def run_replay(
    client: BackendClient,
    original: SessionRecord,
    media: MediaFolder,
    recorder: Recorder | None = None,
) -> tuple[list[Comparison], QaSession]:
    target = AnswerRequest("autoglm-phone-9b", "other", "", ChatOptions())
    replaying = QaSession(title=original.title, replay_of=original.id)

    def record(old: TurnRecord, request: AnswerRequest, turns: list[Turn]) -> None:
        assert recorder
        recorder.record(replaying, turns, request, replay_of=old.id)

    async def collect() -> list[Comparison]:
        found = [
            c async for c in replay(client, original, target, media, record if recorder else None)
        ]
        await client.close()
        return found

    return asyncio.run(collect()), replaying


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Recorder]:
    started = Recorder(QaStore(f"sqlite:///{tmp_path / 'qa.sqlite3'}"), store_media=True)
    yield started
    started.close()


def test_text_diff_by_word_and_by_chinese_character() -> None:
    same = diff_text(TAP, TAP)
    assert not same.changed and same.similarity == 1.0
    moved = diff_text(TAP, 'do(action="Tap", element=[480,100])')
    assert (
        moved.changed
        and ("delete", "500") in moved.segments
        and ("insert", "480") in moved.segments
    )
    assert "".join(text for kind, text in moved.segments if kind != "insert") == TAP
    chinese = diff_text("点击搜索框", "点击设置")
    assert ("equal", "点击") in chinese.segments and ("delete", "搜索框") in chinese.segments
    assert ("insert", "设置") in chinese.segments and 0 < chinese.similarity < 1


def test_replay_on_another_model_shows_what_changed_with_new_answers_as_history(
    tagged_backend: str, random_backend: str, recorder: Recorder, tmp_path: Path
) -> None:
    original = record_session(
        tagged_backend, recorder, [Turn("Where is search?"), Turn("And now?")]
    )
    assert [t.answer for t in original.turns] == [TAP, TAP]
    listening = Listening(random_backend)
    media = MediaFolder(recorder.store, tmp_path / "media")
    comparisons, replaying = run_replay(listening, original, media, recorder)

    assert [c.question for c in comparisons] == ["Where is search?", "And now?"]
    for comparison in comparisons:
        assert comparison.old.answer == TAP
        assert comparison.new.answer and comparison.new.answer != TAP
        assert comparison.answer_diff.changed and comparison.answer_diff.similarity < 1
        assert comparison.new.metrics and comparison.new.metrics.completion_tokens
    # The second question went with the new model's first answer as its history.
    first_request, second_request = listening.sent
    assert second_request[-3:-1] == [
        first_request[-1],
        {"role": "assistant", "content": comparisons[0].new.answer},
    ]
    assert second_request[0] == {
        "role": "system",
        "content": "Answer with one action.",
    }  # as recorded

    # The replay is a session of its own, which rebuilds the same comparisons later.
    recorder.flush()
    replayed = recorder.store.session(replaying.id)
    assert replayed.replay_of == original.id
    assert [t.replay_of for t in replayed.turns] == [t.id for t in original.turns]
    assert replayed.turns[1].context == (replayed.turns[0].id,)
    assert (
        replayed.turns[0].precision == "other"
        and replayed.turns[0].options.chat_options() == OPTIONS
    )
    rebuilt = pair(original, replayed)
    assert [(c.old.answer, c.new.answer) for c in rebuilt] == [
        (c.old.answer, c.new.answer) for c in comparisons
    ]


def test_replay_on_the_same_model_changes_nothing(
    tagged_backend: str, recorder: Recorder, tmp_path: Path
) -> None:
    original = record_session(tagged_backend, recorder, [Turn("Where is search?")])
    comparisons, _ = run_replay(
        BackendClient(tagged_backend), original, MediaFolder(recorder.store, tmp_path)
    )
    [comparison] = comparisons
    assert comparison.new.answer == TAP and not comparison.answer_diff.changed


def test_replay_sends_stored_screenshots_and_says_which_were_not_stored(
    tagged_backend: str, recorder: Recorder, tmp_path: Path
) -> None:
    shot = screenshot(tmp_path / "home.png")
    stored = record_session(
        tagged_backend, recorder, [Turn("What is on the screen?", images=[str(shot)])]
    )
    shot.unlink()  # the upload is gone; the database still has it
    listening = Listening(tagged_backend)
    [comparison], _ = run_replay(listening, stored, MediaFolder(recorder.store, tmp_path / "media"))
    assert comparison.images_missing == 0
    image_parts = [part for part in listening.sent[0][-1]["content"] if part["type"] == "image_url"]
    assert len(image_parts) == 1 and image_parts[0]["image_url"]["url"].startswith(
        "data:image/png;base64,"
    )

    references_only = Recorder(QaStore(f"sqlite:///{tmp_path / 'refs.sqlite3'}"), store_media=False)
    shot = screenshot(tmp_path / "home.png")
    unstored = record_session(
        tagged_backend, references_only, [Turn("What is on the screen?", images=[str(shot)])]
    )
    listening = Listening(tagged_backend)
    [comparison], _ = run_replay(
        listening, unstored, MediaFolder(references_only.store, tmp_path / "media-refs")
    )
    assert comparison.images_missing == 1
    assert [part["type"] for part in listening.sent[0][-1]["content"]] == ["text"]
    references_only.close()


def test_the_qa_tab_replays_the_opened_session_and_shows_it_again_later(
    tagged_backend: str, random_backend: str, recorder: Recorder, tmp_path: Path
) -> None:
    original = record_session(tagged_backend, recorder, [Turn("Where is search?")])
    qa = QaPage(recorder, BackendClient(random_backend), tmp_path)

    async def replay_in_tab() -> list[str]:
        served, _ = await handlers.fetch_models(qa.client)
        return [html async for html in qa.replay(original.id, "autoglm-phone-9b", served, None)]

    [shown] = asyncio.run(replay_in_tab())
    assert "1 of 1 answers changed" in shown and "Where is search?" in shown
    assert "background:#fdd" in shown and "background:#dfd" in shown  # deleted and inserted words
    recorder.flush()
    [replayed] = [s for s in recorder.store.sessions() if s.replay_of == original.id]
    row = gr.SelectData(
        None,
        {
            "index": [0, 0],
            "value": "",
            "row_value": ["", "", 1, "", "", 0, 0, original.id, replayed.id],
        },
    )
    opened, header, transcript, comparison, exported = qa.open(row, None)
    assert opened == replayed.id and f"a replay of `{original.id}`" in header
    assert "1 of 1 answers changed" in comparison and exported is None
    assert transcript[0]["content"] == ["Where is search?"]
