"""Recording the page's turns: real answers from real servers on loopback, through the page's
own answering code, written by the recorder to a real SQLite file."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pytest

from autoglm_demo.answering import AnswerRequest, stream_answer
from autoglm_demo.client import BackendClient, ChatOptions
from autoglm_demo.conversation import Turn, TurnStatus
from autoglm_demo.page_assembly import open_recorder
from autoglm_demo.qa.recorder import QaSession, Recorder
from autoglm_demo.qa.records import MediaKind, Rating, RecordStatus
from autoglm_demo.qa.store import QaStore
from autoglm_demo.settings import Settings
from autoglm_demo.ui import handlers
from autoglm_demo.ui.feedback import FeedbackBox
from autoglm_demo.ui.view import render
from tests.qa_support import finished_turn, screenshot

OPTIONS = ChatOptions(temperature=0, max_tokens=200, seed=1)


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Recorder]:
    started = Recorder(QaStore(f"sqlite:///{tmp_path / 'qa.sqlite3'}"), store_media=True)
    yield started
    started.close()
    started.store.close()


async def page_answer(
    client: BackendClient, turns: list[Turn], recorder: Recorder, session: QaSession
) -> AnswerRequest:
    """What the page does for one answer with recording on; returns what it asked."""
    served, problem = await handlers.fetch_models(client)
    assert problem is None
    model = served.models[0].id
    request = AnswerRequest(
        model, served.precision(model), "Answer with one action.", OPTIONS
    )

    def record(finished: list[Turn]) -> None:
        recorder.record(session, finished, request)

    async for _ in stream_answer(client, turns, request, on_finished=record):
        pass
    return request


def test_the_page_refuses_to_start_on_a_bad_database_url() -> None:
    with pytest.raises(SystemExit, match="sqlite or postgresql, not mysql"):
        open_recorder(Settings(qa_db="mysql://user@host/db"))


def test_every_turn_is_recorded_with_its_inputs_request_answer_and_metrics(
    tagged_backend: str, random_backend: str, recorder: Recorder, tmp_path: Path
) -> None:
    shot = screenshot(tmp_path / "home.png")
    clip = tmp_path / "clip.wav"
    clip.write_bytes(b"RIFF....WAVE")  # the backend cannot decode it: the turn fails
    session = QaSession()
    turns: list[Turn] = []
    asked: list[AnswerRequest] = []

    async def scenario() -> None:
        tagged, talker = BackendClient(tagged_backend), BackendClient(random_backend)
        for turn in (
            Turn("Where is the search box?", images=[str(shot)]),
            Turn("And then?"),
            Turn("", audio=str(clip)),
        ):
            turns.append(turn)
            asked.append(await page_answer(tagged, turns, recorder, session))
        # Stopped mid-answer: cancelled once the answer has started, as Stop does.
        turns.append(Turn("Tell me a long story."))
        streaming = asyncio.create_task(page_answer(talker, turns, recorder, session))
        while not turns[-1].answer:
            await asyncio.sleep(0.01)
        streaming.cancel()
        with pytest.raises(asyncio.CancelledError):
            await streaming
        await tagged.close()
        await talker.close()

    asyncio.run(scenario())
    recorder.flush()
    recorded = recorder.store.session(session.id)
    assert recorded.title == "Where is the search box?"
    first, second, failed, stopped = recorded.turns
    assert [t.id for t in recorded.turns] == [t.record_id for t in turns]
    assert [t.seq for t in recorded.turns] == [0, 1, 2, 3]

    # The inputs, with the screenshot referenced and (storing media) stored.
    assert (
        first.text == "Where is the search box?"
        and first.system_prompt == "Answer with one action."
    )
    [image] = first.images
    digest = hashlib.sha256(shot.read_bytes()).hexdigest()
    assert (image.kind, image.name, image.sha256, image.mime, image.size) == (
        MediaKind.IMAGE,
        "home.png",
        digest,
        "image/png",
        shot.stat().st_size,
    )
    assert recorder.store.blob(digest).data == shot.read_bytes()
    # Who answered and how, then what came back and how fast.
    assert asked[0].precision  # as /v1/models reports it
    assert (first.model, first.precision, first.options.chat_options()) == (
        "autoglm-phone-9b-full",  # the page asks each variant by its explicit name
        asked[0].precision,
        OPTIONS,
    )
    assert first.status is RecordStatus.DONE and first.error is None
    assert first.reasoning.startswith("The user wants to search.")
    assert first.answer == 'do(action="Tap", element=[500,100])'
    assert first.metrics and first.metrics.ttft_s is not None and first.metrics.completion_tokens
    assert first.reasoning_seconds is not None
    assert second.context == (first.id,)
    # A failed turn keeps its input and its error; later turns leave it out of their history.
    assert failed.status is RecordStatus.FAILED and "refused the request (400)" in (
        failed.error or ""
    )
    assert (
        failed.audio and failed.audio.name == "clip.wav" and failed.context == (first.id, second.id)
    )
    assert stopped.status is RecordStatus.STOPPED and stopped.answer == turns[-1].answer != ""
    assert stopped.context == (first.id, second.id)


def test_recording_never_waits_for_the_database(tagged_backend: str, tmp_path: Path) -> None:
    """Another process holds the write lock: the answer streams and finishes regardless, and
    the turns are written once the lock is released."""
    database = tmp_path / "qa.sqlite3"
    recorder = Recorder(QaStore(f"sqlite:///{database}"), store_media=False)
    session = QaSession()
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the write lock, held
    turns = [Turn("Where is the search box?")]

    async def answer() -> None:
        client = BackendClient(tagged_backend)
        await page_answer(client, turns, recorder, session)
        await client.close()

    asyncio.run(answer())
    assert turns[0].status is TurnStatus.DONE and turns[0].record_id
    # A second turn whose screenshot is gone before the writer gets to it (its browser
    # session ended): the reference keeps the name.
    shot = screenshot(tmp_path / "gone.png")
    turns.append(finished_turn("and this?", "ok", images=[str(shot)]))
    recorder.record(session, turns, AnswerRequest("m", None, "", OPTIONS))
    shot.unlink()
    assert recorder.store.sessions() == []  # nothing written while the lock is held
    blocker.execute("ROLLBACK")
    recorder.flush()
    answered, late = recorder.store.session(session.id).turns
    assert answered.answer == 'do(action="Tap", element=[500,100])'
    [image] = late.images
    assert (image.name, image.sha256, image.size) == ("gone.png", None, None)
    recorder.close()


def test_feedback_from_the_chatbot_thumbs_is_stored_with_the_turn(
    recorder: Recorder, tmp_path: Path
) -> None:
    qa = FeedbackBox(recorder)
    session = QaSession()
    turns = [finished_turn("first", "one"), finished_turn("second", "two")]
    request = AnswerRequest("m", "int8", "", OPTIONS)
    recorder.record(session, turns[:1], request)
    recorder.record(session, turns, request)
    messages = render(turns, "en")
    # The Chatbot reports the first message of the rated answer's group.
    answers = [
        i
        for i, m in enumerate(messages)
        if m["role"] == "assistant" and messages[i - 1]["role"] == "user"
    ]

    def thumb(index: int, liked: bool | str) -> tuple[object, object]:
        return qa.rate(
            turns, session, gr.LikeData(None, {"index": index, "value": [], "liked": liked}), None
        )

    row, comment = thumb(answers[1], False)
    assert row.visible is True and comment == ""
    qa.save_comment(session, "  tapped the wrong element ", None)
    thumb(answers[0], True)
    recorder.flush()
    first, second = recorder.store.session(session.id).turns
    assert second.feedback and (second.feedback.rating, second.feedback.comment) == (
        Rating.BAD,
        "tapped the wrong element",
    )
    assert first.feedback and (first.feedback.rating, first.feedback.comment) == (Rating.GOOD, "")

    _, comment = thumb(answers[1], True)  # changing one's mind keeps the comment
    assert comment == "tapped the wrong element"
    thumb(answers[0], "")  # clicking the same thumb again takes the rating back
    recorder.flush()
    first, second = recorder.store.session(session.id).turns
    assert first.feedback is None
    assert second.feedback and (second.feedback.rating, second.feedback.comment) == (
        Rating.GOOD,
        "tapped the wrong element",
    )

    # An answer given with recording off cannot be rated: the tester is told why.
    turns.append(finished_turn("third", "three"))
    with pytest.warns(UserWarning, match="not recorded"):
        assert thumb(len(render(turns, "en")) - 1, True) == (gr.skip(), gr.skip())
    with pytest.warns(UserWarning, match="Rate an answer"):
        qa.save_comment(QaSession(), "no rating yet", None)
