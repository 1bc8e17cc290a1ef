"""Client events → turns → Chatbot messages, with scripted streams and with a real backend."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from autoglm_demo import answering, conversation
from autoglm_demo.answering import AnswerRequest, stream_answer
from autoglm_demo.client import (
    AnswerDelta,
    BackendClient,
    BackendError,
    ChatOptions,
    ClientEvent,
    Finish,
    ReasoningDelta,
    TranscriptReport,
    UsageReport,
)
from autoglm_demo.conversation import (
    Stopwatch,
    Turn,
    TurnStatus,
    image_data_uri,
    request_messages,
)
from autoglm_demo.main import build_pool
from autoglm_demo.server.api import create_app
from autoglm_demo.ui import handlers
from autoglm_demo.ui.chat_tab import EXAMPLE_SCREENSHOT
from autoglm_demo.ui.metrics import footer
from autoglm_demo.ui.models import ServedModels
from autoglm_demo.ui.overlay import overlay_hook
from autoglm_demo.ui.view import render
from tests.conftest import free_port, page_settings, serve_app

REQUEST = AnswerRequest("autoglm-phone-9b", "bfloat16", "", ChatOptions(max_tokens=64))


class ScriptedClient:
    """Stands in for BackendClient.stream_chat with a fixed event list; records requests."""

    def __init__(self, events: list[ClientEvent]) -> None:
        self.events = events
        self.requests: list[list[dict[str, Any]]] = []

    async def stream_chat(
        self, model: str, messages: list[dict[str, Any]], options: ChatOptions, **_: Any
    ) -> AsyncIterator[ClientEvent]:
        self.requests.append(messages)
        for event in self.events:
            yield event


async def collect(
    client: Any, turns: list[Turn], tmp_path: Path, request: AnswerRequest = REQUEST
) -> list[list[dict[str, Any]]]:
    """Run one streamed answer; returns every rendering the page would have shown."""
    return [
        render(t, "en")
        async for t in stream_answer(client, turns, request, overlay=overlay_hook(tmp_path))
    ]


def answer(client: Any, turns: list[Turn], tmp_path: Path) -> list[list[dict[str, Any]]]:
    return asyncio.run(collect(client, turns, tmp_path))


THINKING = [
    ReasoningDelta("The search box "),
    ReasoningDelta("is near the top."),
    AnswerDelta('do(action="Tap", '),
    AnswerDelta("element=[500,195])"),
    Finish("stop"),
    UsageReport(prompt_tokens=321, completion_tokens=20),
]


def test_reasoning_block_then_answer_then_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    turns = [Turn("Where is search?", images=[str(EXAMPLE_SCREENSHOT)])]
    monkeypatch.setattr(answering, "RENDER_INTERVAL_S", 0)  # every event becomes a rendering
    frames = answer(ScriptedClient(THINKING), turns, tmp_path)
    # While thinking, the reasoning block is pending and there is no answer yet.
    thinking = frames[2]
    assert thinking[1]["metadata"]["status"] == "pending"
    assert thinking[1]["content"] == "The search box is near the top."
    final = frames[-1]
    user, reasoning, reply = final
    assert user["role"] == "user" and user["content"][-1] == "Where is search?"
    assert reasoning["metadata"]["title"].endswith("Reasoning")
    assert reasoning["metadata"]["status"] == "done"
    text, badge, overlay, footer = reply["content"]
    assert text == 'do(action="Tap", element=[500,195])'
    assert badge == "<sub>✅ valid action</sub>"
    assert Path(overlay["path"]).is_file()
    assert "`autoglm-phone-9b` · bfloat16" in footer and "prompt 321 · completion 20" in footer
    assert turns[0].status is TurnStatus.DONE and turns[0].in_context


def test_model_without_reasoning_shows_no_reasoning_block(tmp_path: Path) -> None:
    turns = [Turn("hi")]
    frames = answer(ScriptedClient([AnswerDelta("Hello!"), Finish("stop")]), turns, tmp_path)
    assert [m.get("metadata") for m in frames[-1]] == [None, None]
    assert frames[-1][1]["content"][0] == "Hello!"


def test_error_mid_answer_keeps_history_and_is_left_out_of_the_next_request(tmp_path: Path) -> None:
    turns = [Turn("first", answer="one", status=TurnStatus.DONE), Turn("second")]
    failing = ScriptedClient(
        [AnswerDelta("partial"), BackendError("The backend failed while answering: boom")]
    )
    final = answer(failing, turns, tmp_path)[-1]
    assert [m["role"] for m in final] == ["user", "assistant", "user", "assistant", "assistant"]
    assert final[-1]["metadata"]["title"].endswith("Error")
    assert "boom" in final[-1]["content"]
    assert turns[1].status is TurnStatus.FAILED
    # The next turn works and its request leaves out the failed one.
    turns.append(Turn("third"))
    working = ScriptedClient([AnswerDelta("three"), Finish("stop")])
    answer(working, turns, tmp_path)
    assert [m["content"] for m in working.requests[0]] == [
        [{"type": "text", "text": "first"}], "one", [{"type": "text", "text": "third"}]
    ]
    assert turns[-1].answer == "three"


def test_cancelled_stream_marks_the_turn_stopped_with_what_was_said(tmp_path: Path) -> None:
    class Endless:
        async def stream_chat(self, *_: Any, **__: Any) -> AsyncIterator[ClientEvent]:
            while True:
                yield AnswerDelta("word ")
                await asyncio.sleep(0.001)

    turns = [Turn("talk")]

    async def run() -> None:
        async def consume() -> None:
            async for _ in stream_answer(Endless(), turns, REQUEST, overlay=overlay_hook(tmp_path)):
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert turns[0].status is TurnStatus.STOPPED and turns[0].answer.startswith("word word")
    assert "Stopped" in render(turns, "en")[1]["content"][-1]
    assert "已停止" in render(turns, "zh")[1]["content"][-1]


def test_input_undo_and_regenerate() -> None:
    turns: list[Turn] = []
    assert not handlers.accept_input(turns, {"text": "  ", "files": []}, None)
    assert not handlers.accept_input(turns, None, None)
    assert handlers.accept_input(turns, {"text": "", "files": ["a.png"]}, None)
    assert handlers.accept_input(turns, {"text": "", "files": []}, "clip.wav")
    assert handlers.undo(turns) == {"text": "", "files": []}
    assert len(turns) == 1
    turns[0].answer, turns[0].status = "old", TurnStatus.DONE
    assert handlers.prepare_regenerate(turns)
    assert (turns[0].answer, turns[0].status) == ("", TurnStatus.WAITING)
    assert handlers.undo(turns) == {"text": "", "files": ["a.png"]}
    assert handlers.undo(turns) is None
    assert not handlers.prepare_regenerate(turns)


def test_request_messages_send_images_audio_and_no_reasoning(tmp_path: Path) -> None:
    audio = tmp_path / "clip.wav"
    audio.write_bytes(b"RIFF....WAVE")
    turns = [
        Turn(
            "what is this?",
            images=[str(EXAMPLE_SCREENSHOT)],
            reasoning="hmm",
            answer="a phone",
            status=TurnStatus.DONE,
        ),
        Turn("", audio=str(audio)),
    ]
    system, first, reply, last = request_messages(turns, "  Be brief. ")
    assert system == {"role": "system", "content": "Be brief."}
    assert first["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert reply == {"role": "assistant", "content": "a phone"}
    assert last["content"] == [
        {
            "type": "input_audio",
            "input_audio": {"data": base64.b64encode(b"RIFF....WAVE").decode(), "format": "wav"},
        }
    ]


def test_each_image_is_encoded_once_however_many_requests_resend_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[str] = []

    def counting(path: str | Path, *args: Any) -> str:
        encoded.append(str(path))
        return image_data_uri(path, *args)

    monkeypatch.setattr(conversation, "image_data_uri", counting)
    second = tmp_path / "second.png"
    Image.new("RGB", (40, 80), (200, 10, 10)).save(second)
    turns = [Turn("first", images=[str(EXAMPLE_SCREENSHOT)], answer="ok", status=TurnStatus.DONE)]
    for text in ("second", "third"):
        turns.append(Turn(text, images=[str(second)]))
        first_request = request_messages(turns, "")
        turns[-1].answer, turns[-1].status = "ok", TurnStatus.DONE
    third_request = request_messages(turns, "")
    assert encoded == [str(EXAMPLE_SCREENSHOT), str(second), str(second)]  # one per turn
    assert third_request[0] == first_request[0]
    sent = [
        part["image_url"]["url"]
        for m in third_request
        for part in m["content"]
        if m["role"] == "user" and part["type"] == "image_url"
    ]
    assert sent[0].startswith("data:image/png;base64,") and sent[1] == sent[2] != sent[0]
    # A turn whose images change (an edited question) is encoded afresh.
    turns[0].images = [str(second)]
    request_messages(turns, "")
    assert encoded[-1] == str(second) and len(encoded) == 4


def test_large_photos_are_downscaled_and_sent_as_jpeg(tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (4000, 3000), (10, 120, 200)).save(photo)
    uri = image_data_uri(photo)
    assert uri.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as sent:
        assert sent.size == (1920, 1440)


def test_stopwatch_metrics_are_exact_with_a_fake_clock() -> None:
    ticks = iter([0.0, 0.5, 1.0, 2.5])
    clock = Stopwatch(lambda: next(ticks))
    clock.token()  # first reasoning token at 0.5
    clock.answer_token()  # first answer token at 1.0
    clock.finish()  # 2.5
    metrics = clock.metrics("m", "float32", (10, 31))
    assert (metrics.ttft_s, metrics.tokens_per_s, clock.reasoning_seconds) == (0.5, 15.0, 0.5)
    assert "first token 0.50 s · 15.0 tok/s" in footer(metrics, "en")
    assert "首字延迟 0.50 s" in footer(metrics, "zh")


def test_remote_backend_down_then_back(tagged_model_dir: Path, tmp_path: Path) -> None:
    """--backend-url mode: the page's client against a second, real server on loopback,
    first while it is down, then once it is up."""
    port = free_port()
    settings = page_settings(tagged_model_dir, port)
    turns = [Turn("hello")]

    async def scenario() -> None:
        client = BackendClient(f"http://127.0.0.1:{port}/v1")
        down = (await collect(client, turns, tmp_path))[-1]
        assert "not reachable" in down[-1]["content"] and turns[0].status is TurnStatus.FAILED
        with serve_app(create_app(settings, build_pool(settings)), port=port):
            served, problem = await handlers.fetch_models(client)
            assert problem is None
            family = served.families()[0]
            variants = served.variants(family)
            assert [model for _, model in variants] == [
                "autoglm-phone-9b-full", "autoglm-phone-9b-int8", "autoglm-phone-9b-int4"
            ]
            model_id = served.default_variant(family)
            assert model_id == "autoglm-phone-9b-full"  # no llama.cpp here: full is the default
            assert variants[0][0].startswith("full · transformers · ")
            turns.append(Turn("hello again"))
            options = ChatOptions(max_tokens=200, temperature=0)
            request = AnswerRequest(model_id, served.precision(model_id), "", options)
            await collect(client, turns, tmp_path, request)
            # Audio without a transcript goes as input_audio; corrupt audio's refusal is shown.
            audio = tmp_path / "clip.wav"
            audio.write_bytes(b"RIFF....WAVE")
            turns.append(Turn("", audio=str(audio)))
            refused = (await collect(client, turns, tmp_path, request))[-1]
            assert "refused the request (400)" in refused[-1]["content"]
            assert "could not be decoded" in refused[-1]["content"]
        await client.close()

    asyncio.run(scenario())
    assert turns[1].status is TurnStatus.DONE
    # The tagged model's reply, split into the reasoning block and the answer by the server.
    assert turns[1].reasoning.startswith("The user wants to search.")
    assert turns[1].answer == 'do(action="Tap", element=[500,100])'
    metrics = turns[1].metrics
    assert metrics and metrics.completion_tokens and metrics.ttft_s is not None
    assert metrics.precision == "full"
    assert [t.status for t in turns] == [
        TurnStatus.FAILED,
        TurnStatus.DONE,
        TurnStatus.FAILED,
    ]  # history kept


def test_catalogue_groups_variants_by_checkpoint() -> None:
    from autoglm_demo.client import BackendModel

    served = ServedModels(
        (
            BackendModel("glm-bf16", {"root": "zai/glm", "precision": "bfloat16"}),
            BackendModel("glm-int4", {"root": "zai/glm", "precision": "int4"}),
            BackendModel("other", {}),
        )
    )
    assert served.families() == ["zai/glm", "other"]
    assert served.variants("zai/glm") == [
        ("bfloat16 — glm-bf16", "glm-bf16"),
        ("int4 — glm-int4", "glm-int4"),
    ]
    assert served.variants("other") == [("other", "other")]
    assert served.precision("glm-int4") == "int4" and served.precision("nope") is None


class FakeVoice:
    async def transcribe(self, audio: Path) -> str:
        return "open the wifi settings"


def test_voice_goes_to_the_box_for_review_or_straight_into_a_turn() -> None:
    turns: list[Turn] = []
    box = {"text": "Please:", "files": ["shot.png"]}
    reviewed = asyncio.run(handlers.take_voice(FakeVoice(), turns, box, "clip.wav", review=True))
    assert reviewed == {"text": "Please: open the wifi settings", "files": ["shot.png"]}
    assert turns == []  # nothing sent yet; the clip stays attached for Send
    assert (
        asyncio.run(handlers.take_voice(FakeVoice(), turns, None, "clip.wav", review=False)) is None
    )
    [turn] = turns
    assert (turn.text, turn.audio, turn.status) == (
        "open the wifi settings",
        "clip.wav",
        TurnStatus.WAITING,
    )
    # The transcript stands for the audio: the request carries text, the page shows both.
    assert request_messages(turns, "")[-1]["content"] == [
        {"type": "text", "text": "open the wifi settings"}
    ]
    assert render(turns, "en")[0]["content"] == [{"path": "clip.wav"}, "open the wifi settings"]


def test_transcript_reported_by_the_backend_becomes_the_question(tmp_path: Path) -> None:
    audio = tmp_path / "clip.wav"
    audio.write_bytes(b"RIFF....WAVE")
    turns = [Turn("earlier", answer="ok", status=TurnStatus.DONE), Turn("", audio=str(audio))]
    reply = ScriptedClient([
        TranscriptReport(message_index=0, part_index=0, text="not this one", language="en"),
        TranscriptReport(message_index=2, part_index=0, text="turn on bluetooth", language="en"),
        AnswerDelta("done"),
        Finish("stop"),
    ])
    final = answer(reply, turns, tmp_path)[-1]
    assert turns[1].text == "turn on bluetooth"
    assert final[2]["content"] == [{"path": str(audio)}, "turn on bluetooth"]


def test_page_transcribes_locally_when_the_backend_has_no_transcription_route(
    offline_cache_dir: Path, tmp_path: Path
) -> None:
    from fastapi import FastAPI

    from autoglm_demo.settings import Settings
    from autoglm_demo.speech.service import Speech
    from autoglm_demo.ui.voice import VoiceInput
    from tests.speech_audio import speak, word_errors

    sentence = "Send a message to Alice saying that I will be late for dinner."
    clip = speak(sentence, tmp_path / "clip.wav")
    local = Speech(Settings(cache_dir=offline_cache_dir, device="cpu"))
    with serve_app(FastAPI(), ready_path=None) as chat_only:  # every route answers 404

        async def scenario() -> str:
            client = BackendClient(chat_only + "/v1")
            heard = await VoiceInput(client, local).transcribe(clip)
            await client.close()
            return heard

        heard = asyncio.run(scenario())
    assert local.loaded and word_errors(sentence, heard) <= 2


def test_a_file_that_is_no_image_fails_its_turn_readably(tmp_path: Path) -> None:
    """A text file named like a screenshot: the turn fails with a reason that names the
    file but not its folder, the backend is never asked, and earlier turns stay."""
    fake = tmp_path / "screen.png"
    fake.write_text("root:x:0:0:root:/root:/bin/bash\n")
    earlier = Turn("hello", answer="Hi!", status=TurnStatus.DONE)
    turns = [earlier, Turn("what is on this screen?", images=[str(fake)])]
    unreachable = BackendClient(f"http://127.0.0.1:{free_port()}/v1")
    shown = answer(unreachable, turns, tmp_path)
    assert turns[-1].status is TurnStatus.FAILED
    assert turns[-1].error and "screen.png could not be read as an image" in turns[-1].error
    assert str(tmp_path) not in turns[-1].error
    assert "could not be read as an image" in shown[-1][-1]["content"]
    assert turns[0] is earlier and earlier.status is TurnStatus.DONE and earlier.answer == "Hi!"
