"""Audio for the speech tests: sentences spoken by espeak-ng, plain tones and silence, and
the word error rate to judge transcripts by."""

from __future__ import annotations

import re
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

RATE = 16_000


def speak(text: str, path: Path, voice: str = "en-us") -> Path:
    """`text` spoken by espeak-ng into a wav file."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
    return path


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    """float samples in [-1, 1] as 16-bit mono PCM."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def silence(path: Path, seconds: float) -> Path:
    return write_wav(path, np.zeros(int(seconds * RATE)))


def tone(path: Path, seconds: float, hz: float = 440) -> Path:
    t = np.arange(int(seconds * RATE)) / RATE
    return write_wav(path, 0.3 * np.sin(2 * np.pi * hz * t))


def words(text: str) -> list[str]:
    """Lower case, no punctuation, hyphenated words joined ("Wi-Fi" is "wifi"), as WER compares."""
    return re.sub(r"[^\w\s]", " ", re.sub(r"[-']", "", text.lower())).split()


def word_errors(reference: str, hypothesis: str) -> int:
    """Word-level edit distance (substitutions + deletions + insertions)."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1]
