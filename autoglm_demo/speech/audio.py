"""Audio bytes → 16 kHz mono samples, refusing what cannot or should not be transcribed.

PyAV (FFmpeg) decodes every format browsers record and people upload. The length limit is
enforced while decoding, so an hour-long upload costs no more than the limit's worth of work.
"""

from __future__ import annotations

import io
import itertools
from typing import TYPE_CHECKING

import numpy as np

from autoglm_demo.speech.base import SAMPLE_RATE, SpeechInputError

if TYPE_CHECKING:
    import av

# OpenAI's list, plus opus (what browsers record inside webm and ogg).
FORMATS = frozenset(
    {"wav", "mp3", "m4a", "mp4", "mpeg", "mpga", "ogg", "oga", "opus", "webm", "flac"}
)

# Below this peak level (about -60 dBFS) a recording holds no audible sound at all.
SILENCE_PEAK = 1e-3


def check_format(name: str | None) -> None:
    """Refuse a declared format we do not take; None (not declared) is left to the decoder."""
    if name is not None and name.lower() not in FORMATS:
        raise SpeechInputError(
            "unsupported_audio_format",
            f"Audio format '{name}' is not supported; use one of "
            + ", ".join(sorted(FORMATS))
            + ".",
        )


def decode(data: bytes, *, max_seconds: float) -> np.ndarray:
    """The audio as float32 mono samples at SAMPLE_RATE, or SpeechInputError saying why not."""
    if not data:
        raise SpeechInputError("empty_audio", "The audio file is empty.")
    chunks = _decode_chunks(data, max_seconds)
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if samples.size == 0:
        raise SpeechInputError("empty_audio", "The audio holds no sound (zero length).")
    if float(np.abs(samples).max()) < SILENCE_PEAK:
        raise SpeechInputError("no_speech", "The audio is silent; nothing was said.")
    return samples


def _decode_chunks(data: bytes, max_seconds: float) -> list[np.ndarray]:
    import av  # FFmpeg's libraries: loaded with the first audio, not at every start

    limit = int(max_seconds * SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    decoded = 0
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    try:
        with av.open(io.BytesIO(data), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise SpeechInputError("invalid_audio", "The file has no audio track.")
            _check_declared_length(container, max_seconds)
            # The trailing None flushes the resampler's last samples.
            for frame in itertools.chain(container.decode(audio=0), [None]):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1).astype(np.float32) / 32768.0
                    decoded += chunk.size
                    if decoded > limit:
                        raise _too_long(max_seconds)
                    chunks.append(chunk)
    except av.FFmpegError as error:
        raise SpeechInputError(
            "invalid_audio",
            f"The audio could not be decoded; the file may be corrupt ({error.strerror or error}).",
        ) from None
    return chunks


def _check_declared_length(container: av.container.InputContainer, max_seconds: float) -> None:
    """Refuse a file whose header already says it is too long, before decoding any of it."""
    from av import time_base  # the units of `duration`; PyAV is loaded by now

    if container.duration is not None and container.duration / time_base > max_seconds + 1:
        raise _too_long(max_seconds)


def _too_long(max_seconds: float) -> SpeechInputError:
    return SpeechInputError(
        "audio_too_long",
        f"The audio is longer than this server's limit of {max_seconds:g} seconds; "
        "split it or trim it.",
    )
