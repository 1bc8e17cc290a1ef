"""The interface every ASR engine implements, and what a transcription returns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

SAMPLE_RATE = 16_000  # every Whisper model hears 16 kHz mono


@dataclass(frozen=True)
class Segment:
    """One stretch of speech, with the decoder's own quality figures (OpenAI reports them)."""

    start: float
    end: float
    text: str
    tokens: tuple[int, ...] = ()
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0
    temperature: float = 0.0
    seek: int = 0  # where the decoder's 30 s window started, in 10 ms frames

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Segment:
        """From a segment as either engine reports it (both use openai-whisper's names)."""
        return cls(
            start=float(fields["start"]),
            end=float(fields["end"]),
            text=fields["text"],
            tokens=tuple(fields["tokens"]),
            avg_logprob=float(fields["avg_logprob"]),
            compression_ratio=float(fields["compression_ratio"]),
            no_speech_prob=float(fields["no_speech_prob"]),
            temperature=float(fields["temperature"] or 0.0),
            seek=int(fields["seek"]),
        )


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    duration: float  # seconds of audio heard, silence included
    segments: tuple[Segment, ...] = ()

    @classmethod
    def from_segments(
        cls, segments: Iterable[Segment], language: str, duration: float
    ) -> Transcript:
        segments = tuple(segments)
        # Segment texts carry their own leading spaces (none in Chinese), so plain joining
        # is right for every language.
        text = "".join(segment.text for segment in segments).strip()
        return cls(text=text, language=language, duration=duration, segments=segments)


# As OpenAI's API does for temperature 0: retry hotter when decoding degenerates (repeats).
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class TranscribeOptions:
    language: str | None = None  # None: detect it
    prompt: str | None = None  # earlier text or spellings, which guide the decoder
    temperature: float = 0.0

    @property
    def temperatures(self) -> tuple[float, ...]:
        return FALLBACK_TEMPERATURES if self.temperature == 0 else (self.temperature,)


class Transcriber(Protocol):
    """A loaded engine. Calls come one at a time (`service.Speech` holds a lock)."""

    description: str
    languages: frozenset[str]

    def transcribe(self, audio: np.ndarray, options: TranscribeOptions) -> Transcript:
        """`audio`: float32 mono samples at SAMPLE_RATE."""
        ...


Problem = Literal[
    "empty_audio",
    "invalid_audio",
    "unsupported_audio_format",
    "audio_too_long",
    "no_speech",
    "unsupported_language",
]


class SpeechInputError(ValueError):
    """Input that can never be transcribed; `code` says which kind, `message` what to do."""

    def __init__(self, code: Problem, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
