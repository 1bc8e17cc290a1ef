"""faster-whisper (CTranslate2): the default engine; int8 on the CPU, float16 on a GPU."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from autoglm_demo.speech.base import Segment, TranscribeOptions, Transcript

BEAM_SIZE = 5  # faster-whisper's and OpenAI's default; greedy decoding loses a little accuracy


class FasterWhisperTranscriber:
    def __init__(self, model: str, *, device: str, description: str) -> None:
        import ctranslate2
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        if device == "auto":
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        self._model = WhisperModel(
            model,
            device=device,
            compute_type="float16" if device == "cuda" else "int8",
            # Its default of 4 threads oversubscribes small machines (2 cores here).
            cpu_threads=len(os.sched_getaffinity(0)),
        )
        self.description = f"{description} · faster-whisper on {device}"
        self.languages = frozenset(_LANGUAGE_CODES)

    def transcribe(self, audio: np.ndarray, options: TranscribeOptions) -> Transcript:
        segments, info = self._model.transcribe(
            audio,
            language=options.language,
            initial_prompt=options.prompt,
            temperature=options.temperatures,
            beam_size=BEAM_SIZE,
            vad_filter=True,  # silero VAD, shipped in the wheel: silence is never decoded
        )
        # `segments` is lazy: the decoding happens while it is read.
        decoded = [Segment.from_fields(dataclasses.asdict(segment)) for segment in segments]
        return Transcript.from_segments(decoded, info.language, info.duration)
