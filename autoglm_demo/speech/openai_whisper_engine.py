"""openai-whisper (PyTorch): the second engine, for people who have its checkpoints.

`model` is a name openai-whisper knows (downloaded into the cache folder on first use) or a
path to a `.pt` checkpoint. Its weights are not shipped, so it needs the hub or a file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autoglm_demo.speech.base import SAMPLE_RATE, Segment, TranscribeOptions, Transcript


class OpenAIWhisperTranscriber:
    def __init__(self, model: str, *, device: str, download_root: Path) -> None:
        import torch
        import whisper
        from whisper.tokenizer import LANGUAGES

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self._model = whisper.load_model(model, device=device, download_root=str(download_root))
        self._fp16 = device == "cuda"
        self.description = f"{model} · openai-whisper on {device}"
        self.languages = frozenset(LANGUAGES)

    def transcribe(self, audio: np.ndarray, options: TranscribeOptions) -> Transcript:
        result = self._model.transcribe(
            audio,
            language=options.language,
            initial_prompt=options.prompt,
            temperature=options.temperatures,
            fp16=self._fp16,
        )
        segments = [Segment.from_fields(segment) for segment in result["segments"]]
        return Transcript.from_segments(segments, result["language"], audio.size / SAMPLE_RATE)
