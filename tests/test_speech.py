"""Speech recognition without HTTP: the shipped weights, both engines, and refused audio."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from autoglm_demo.settings import Settings
from autoglm_demo.speech import audio, shipped_weights
from autoglm_demo.speech.base import SpeechInputError, TranscribeOptions, Transcript
from autoglm_demo.speech.service import Speech, load_transcriber
from tests.speech_audio import RATE, silence, speak, tone, word_errors, words, write_wav

pytestmark = pytest.mark.slow

SENTENCES = [
    "Open the settings app and turn on the wifi.",
    "Send a message to Alice saying that I will be late for dinner.",
    "Search for the nearest coffee shop and show me the route.",
    "Please turn off the bluetooth and lower the screen brightness.",
    "Take a screenshot and share it with my brother.",
    "Play some relaxing music on the phone speaker.",
]


@pytest.fixture(scope="module")
def speech(offline_cache_dir: Path) -> Speech:
    return Speech(Settings(cache_dir=offline_cache_dir, device="cpu"))


def transcribe(speech: Speech, path: Path, **options: object) -> Transcript:
    return asyncio.run(speech.transcribe(path.read_bytes(), path.suffix[1:], **options))  # type: ignore[arg-type]


def test_shipped_weights_are_joined_once_into_the_cache(tmp_path: Path) -> None:
    folder = shipped_weights.shipped_model_dir(tmp_path)
    parts = sum(
        shipped_weights.shipped_file(dist, name, "").stat().st_size
        for dist, name in shipped_weights._BIN_PARTS
    )
    assert (folder / "model.bin").stat().st_size == parts
    assert {p.name for p in folder.iterdir()} == {
        "model.bin", "config.json", "tokenizer.json", "vocabulary.txt"
    }
    joined_at = (folder / "model.bin").stat().st_mtime_ns
    assert shipped_weights.shipped_model_dir(tmp_path) == folder
    assert (folder / "model.bin").stat().st_mtime_ns == joined_at  # not joined again
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no staging left


def test_english_word_error_rate_with_the_shipped_model(speech: Speech, tmp_path: Path) -> None:
    errors = total = 0
    for number, sentence in enumerate(SENTENCES):
        transcript = transcribe(speech, speak(sentence, tmp_path / f"{number}.wav"))
        assert transcript.language == "en"
        errors += word_errors(sentence, transcript.text)
        total += len(words(sentence))
    assert errors / total <= 0.15, f"WER {errors / total:.1%} over {total} words"


def test_vad_skips_leading_silence_offline(speech: Speech, tmp_path: Path) -> None:
    """The silero VAD model ships inside the faster-whisper wheel: no download is needed."""
    import faster_whisper

    assert list((Path(faster_whisper.__file__).parent / "assets").glob("silero*.onnx"))
    spoken = audio.decode(speak(SENTENCES[0], tmp_path / "s.wav").read_bytes(), max_seconds=60)
    padded = write_wav(tmp_path / "padded.wav", np.concatenate([np.zeros(8 * RATE), spoken]))
    transcript = transcribe(speech, padded)
    assert word_errors(SENTENCES[0], transcript.text) <= 2
    assert transcript.segments[0].start >= 7  # decoding began where the speech did
    assert transcript.duration == pytest.approx(8 + spoken.size / RATE, abs=0.1)


def test_language_can_be_fixed(speech: Speech, tmp_path: Path) -> None:
    clip = speak("打开设置", tmp_path / "zh.wav", voice="cmn")
    assert transcribe(speech, clip, language="zh").language == "zh"


@pytest.mark.parametrize(
    ("make", "suffix", "code"),
    [
        (lambda path: path.write_bytes(b""), "wav", "empty_audio"),
        (
            lambda path: path.write_bytes(b"RIFF\x00\x00WAVEnot really audio" * 20),
            "wav",
            "invalid_audio",
        ),
        (lambda path: silence(path, 2), "wav", "no_speech"),
        (lambda path: tone(path, 2), "wav", "no_speech"),  # sound, but nothing said
        (lambda path: tone(path, 11), "wav", "audio_too_long"),
        (lambda path: path.write_bytes(b"MZ\x90\x00"), "exe", "unsupported_audio_format"),
    ],
    ids=["empty", "corrupt", "silent", "tone", "too-long", "unsupported"],
)
def test_audio_that_cannot_be_transcribed_is_refused_with_a_reason(
    offline_cache_dir: Path, tmp_path: Path, make, suffix: str, code: str
) -> None:
    limited = Speech(Settings(cache_dir=offline_cache_dir, device="cpu", max_audio_seconds=10))
    path = tmp_path / f"clip.{suffix}"
    make(path)
    with pytest.raises(SpeechInputError) as refused:
        transcribe(limited, path)
    assert refused.value.code == code and refused.value.message


def test_openai_whisper_engine_loads_a_checkpoint_and_transcribes(tmp_path: Path) -> None:
    """A tiny randomly initialised checkpoint, built here and loaded through the engine's own
    path; random weights say nothing sensible, so only the shape of the result is checked."""
    torch = pytest.importorskip("torch")
    whisper_model = pytest.importorskip("whisper.model")
    dims = whisper_model.ModelDimensions(
        n_mels=80, n_audio_ctx=1500, n_audio_state=32, n_audio_head=2, n_audio_layer=1,
        n_vocab=51865, n_text_ctx=448, n_text_state=32, n_text_head=2, n_text_layer=1,
    )
    torch.manual_seed(0)
    model = whisper_model.Whisper(dims)
    # Whisper allocates this with torch.empty (checkpoints overwrite it); garbage there can
    # be NaN, so it gets ordinary random values like every other weight.
    torch.nn.init.normal_(model.decoder.positional_embedding, std=0.02)
    checkpoint = tmp_path / "tiny-whisper.pt"
    torch.save(
        {"dims": dataclasses.asdict(dims), "model_state_dict": model.state_dict()}, checkpoint
    )

    settings = Settings(
        asr_engine="openai-whisper", asr_model=str(checkpoint), device="cpu", cache_dir=tmp_path
    )
    transcriber = load_transcriber(settings)
    samples = audio.decode(speak(SENTENCES[0], tmp_path / "s.wav").read_bytes(), max_seconds=60)
    transcript = transcriber.transcribe(samples, TranscribeOptions(language="en", temperature=0.5))
    assert isinstance(transcript, Transcript)
    assert transcript.language == "en" and transcript.duration == pytest.approx(samples.size / RATE)
    assert "openai-whisper on cpu" in transcriber.description


def test_engine_loads_lazily_once(offline_cache_dir: Path, tmp_path: Path) -> None:
    speech = Speech(Settings(cache_dir=offline_cache_dir, device="cpu"))
    assert not speech.loaded  # creating it costs nothing: servers start without it
    transcribe(speech, speak(SENTENCES[0], tmp_path / "s.wav"))
    assert speech.loaded
