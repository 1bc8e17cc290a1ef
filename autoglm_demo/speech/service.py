"""The one speech recogniser a process shares: checks the audio, loads the engine on first
use, and transcribes on a worker thread so the event loop keeps serving."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from autoglm_demo.settings import Settings
from autoglm_demo.speech import audio
from autoglm_demo.speech.base import SpeechInputError, TranscribeOptions, Transcriber, Transcript

log = logging.getLogger(__name__)


class SpeechUnavailable(RuntimeError):
    """The configured engine could not be loaded (a missing package or model)."""


def load_transcriber(settings: Settings) -> Transcriber:
    """The engine `settings` name; the shipped whisper-base unless a model is given."""
    if settings.asr_engine == "openai-whisper":
        from autoglm_demo.speech.openai_whisper_engine import OpenAIWhisperTranscriber

        return OpenAIWhisperTranscriber(
            settings.asr_model or "base",
            device=settings.device,
            download_root=settings.cache_dir / "openai-whisper",
        )
    from autoglm_demo.speech.faster_whisper_engine import FasterWhisperTranscriber

    if settings.asr_model:
        return FasterWhisperTranscriber(
            settings.asr_model, device=settings.device, description=settings.asr_model
        )
    from autoglm_demo.speech import shipped_weights

    return FasterWhisperTranscriber(
        str(shipped_weights.shipped_model_dir(settings.cache_dir)),
        device=settings.device,
        description=shipped_weights.DISPLAY_NAME,
    )


class Speech:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._transcriber: Transcriber | None = None
        self._load_lock = threading.Lock()
        # One transcription at a time: openai-whisper installs per-call hooks on its model,
        # and on a small CPU concurrent calls would only fight over the same cores.
        self._run_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._transcriber is not None

    async def transcribe(
        self,
        data: bytes,
        audio_format: str | None,
        *,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float = 0.0,
    ) -> Transcript:
        """`audio_format` is the extension or declared format (None: let the decoder tell).

        Raises SpeechInputError for audio that cannot be transcribed, SpeechUnavailable when
        the engine cannot be loaded.
        """
        audio.check_format(audio_format)
        options = TranscribeOptions(
            language=language or self._settings.asr_language, prompt=prompt, temperature=temperature
        )
        return await asyncio.to_thread(self._transcribe, data, options)

    def _transcribe(self, data: bytes, options: TranscribeOptions) -> Transcript:
        samples = audio.decode(data, max_seconds=self._settings.max_audio_seconds)
        transcriber = self._loaded()
        if options.language and options.language not in transcriber.languages:
            raise SpeechInputError(
                "unsupported_language",
                f"Language '{options.language}' is not one Whisper knows; use an ISO-639-1 "
                "code such as en or zh, or leave it out to detect the language.",
            )
        with self._run_lock:
            transcript = transcriber.transcribe(samples, options)
        if not transcript.text:
            raise SpeechInputError("no_speech", "No speech was recognised in the audio.")
        return transcript

    def _loaded(self) -> Transcriber:
        with self._load_lock:
            if self._transcriber is None:
                started = time.monotonic()
                try:
                    self._transcriber = load_transcriber(self._settings)
                except Exception as error:  # any load failure is reported, not fatal
                    log.exception("Speech recognition failed to load")
                    raise SpeechUnavailable(f"speech recognition failed to load: {error}") from None
                log.info(
                    "Speech recognition ready: %s (loaded in %.1f s)",
                    self._transcriber.description,
                    time.monotonic() - started,
                )
            return self._transcriber
