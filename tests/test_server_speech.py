"""Speech through the HTTP API: /v1/audio/transcriptions with the openai SDK in every
response format, input_audio parts in chat (whole and streamed), and refused audio."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from autoglm_demo.client import BackendClient, ChatOptions, TranscriptReport
from tests.conftest import app_for, serve_app
from tests.speech_audio import silence, speak, tone, word_errors

pytestmark = pytest.mark.slow

SENTENCE = "Send a message to Alice saying that I will be late for dinner."


@pytest.fixture(scope="module")
def server(tiny_llama_dir: Path, offline_cache_dir: Path) -> Iterator[str]:
    app = app_for(tiny_llama_dir, device="cpu", cache_dir=offline_cache_dir, max_audio_seconds=10)
    with serve_app(app) as base:
        assert not app.state.speech.loaded  # starting the server did not load speech
        yield base


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speak(SENTENCE, tmp_path_factory.mktemp("audio") / "settings.wav")


def test_transcriptions_in_every_response_format(server: str, clip: Path) -> None:
    sdk = openai.OpenAI(base_url=server + "/v1", api_key="EMPTY")
    create = sdk.audio.transcriptions.create

    plain = create(model="whisper-1", file=clip)
    assert word_errors(SENTENCE, plain.text) <= 2

    verbose = create(model="whisper-1", file=clip, response_format="verbose_json", language="en")
    assert verbose.language == "en" and verbose.duration == pytest.approx(3.5, abs=1.5)
    assert verbose.text == plain.text and verbose.segments and verbose.segments[0].end > 1

    text = create(model="whisper-1", file=clip, response_format="text")
    assert text.strip() == plain.text

    srt = create(model="whisper-1", file=clip, response_format="srt")
    assert srt.startswith("1\n00:00:00,000 --> 00:00:0") and plain.text.split()[0] in srt

    vtt = create(model="whisper-1", file=clip, response_format="vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:0") and plain.text.split()[0] in vtt

    prompted = create(model="whisper-1", file=clip, prompt="Wi-Fi settings.", temperature=0.2)
    assert word_errors(SENTENCE, prompted.text) <= 2


def bad_audio(tmp_path: Path) -> list[tuple[str, bytes, str]]:
    """(file name, bytes, error code) for every kind of audio the server must refuse."""
    return [
        ("empty.wav", b"", "empty_audio"),
        ("corrupt.mp3", b"ID3\x03\x00 definitely not mpeg frames" * 30, "invalid_audio"),
        ("silent.wav", silence(tmp_path / "s.wav", 2).read_bytes(), "no_speech"),
        ("long.wav", tone(tmp_path / "t.wav", 11).read_bytes(), "audio_too_long"),
        ("notes.txt", b"hello", "unsupported_audio_format"),
    ]


def test_bad_audio_is_a_400_in_openai_shape(server: str, tmp_path: Path) -> None:
    for name, data, code in bad_audio(tmp_path):
        reply = httpx.post(
            server + "/v1/audio/transcriptions",
            files={"file": (name, data)},
            data={"model": "whisper-1"},
            timeout=120,
        )
        assert reply.status_code == 400, (name, reply.text)
        error = reply.json()["error"]
        assert (error["code"], error["param"], error["type"]) == (
            code,
            "file",
            "invalid_request_error",
        )
        assert error["message"].startswith("file: ")
    unknown = httpx.post(
        server + "/v1/audio/transcriptions",
        files={"file": ("a.wav", b"RIFF")},
        data={"model": "whisper-1", "response_format": "docx"},
    )
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "response_format"


def audio_message(path: Path, text: str | None = None) -> dict:
    data = base64.b64encode(path.read_bytes()).decode()
    parts: list[dict] = [{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}]
    if text:
        parts.insert(0, {"type": "text", "text": text})
    return {"role": "user", "content": parts}


def test_input_audio_in_chat_is_transcribed_and_reported(server: str, clip: Path) -> None:
    body = {
        "model": "autoglm-phone-9b",
        "max_tokens": 4,
        "messages": [
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "hi"},
            audio_message(clip, "Please do this:"),
        ],
    }
    whole = httpx.post(server + "/v1/chat/completions", json=body, timeout=120).json()
    [heard] = whole["input_transcripts"]
    assert (heard["message_index"], heard["part_index"], heard["language"]) == (2, 1, "en")
    assert word_errors(SENTENCE, heard["text"]) <= 2
    # The model got the transcript as text: the prompt is longer than without the audio.
    body_without = {
        **body,
        "messages": [*body["messages"][:2], {"role": "user", "content": "Please do this:"}],
    }
    shorter = httpx.post(server + "/v1/chat/completions", json=body_without, timeout=120).json()
    assert whole["usage"]["prompt_tokens"] > shorter["usage"]["prompt_tokens"] + 5
    assert shorter["input_transcripts"] is None

    with httpx.stream(
        "POST", server + "/v1/chat/completions", json={**body, "stream": True}, timeout=120
    ) as reply:
        first = json.loads(next(reply.iter_lines()).removeprefix("data: "))
    assert first["input_transcripts"] == whole["input_transcripts"]


def test_the_client_reports_input_transcripts_as_events(server: str, clip: Path) -> None:
    async def events() -> list:
        client = BackendClient(server + "/v1")
        messages = [audio_message(clip)]
        found = [
            e
            async for e in client.stream_chat(
                "autoglm-phone-9b", messages, ChatOptions(max_tokens=2)
            )
        ]
        await client.close()
        return found

    [transcript] = [e for e in asyncio.run(events()) if isinstance(e, TranscriptReport)]
    assert transcript.message_index == 0 and transcript.language == "en"
    assert word_errors(SENTENCE, transcript.text) <= 2


def test_bad_input_audio_in_chat_is_a_400_naming_the_part(server: str, tmp_path: Path) -> None:
    for name, data, code in bad_audio(tmp_path):
        part = {"data": base64.b64encode(data).decode(), "format": name.rsplit(".", 1)[1]}
        message = {
            "role": "user",
            "content": [
                {"type": "text", "text": "hi"},
                {"type": "input_audio", "input_audio": part},
            ],
        }
        reply = httpx.post(
            server + "/v1/chat/completions",
            json={"model": "autoglm-phone-9b", "messages": [message], "stream": True},
            timeout=120,
        )
        assert reply.status_code == 400, (name, reply.text)
        assert reply.json()["error"]["code"] == code
        assert reply.json()["error"]["param"] == "messages.0.content.1"
    not_base64 = {
        "role": "user",
        "content": [{"type": "input_audio", "input_audio": {"data": "%%%", "format": "wav"}}],
    }
    reply = httpx.post(
        server + "/v1/chat/completions",
        json={"model": "autoglm-phone-9b", "messages": [not_base64]},
    )
    assert reply.status_code == 400 and "base64" in reply.json()["error"]["message"]
