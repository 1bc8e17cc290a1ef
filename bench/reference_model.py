"""The offline default as a float32 transformers model: the independent reference that the
benchmarks hold our llama.cpp full precision against (and what `transformers serve` runs).

Made once into the cache folder from the shipped Q4_1 GGUF, through transformers' own GGUF
loader (which needs torch, transformers and gguf: requirements-transformers.txt).
"""

from __future__ import annotations

from pathlib import Path

from autoglm_demo.engine.offline_default import shipped_gguf_path
from autoglm_demo.shipped import build_once, fingerprint


def reference_model_dir(cache_dir: Path) -> Path:
    """The safetensors folder of the shipped weights in float32, made on first use."""
    gguf = shipped_gguf_path()
    target = cache_dir / "models" / f"smollm2-135m-instruct-{fingerprint(gguf)}"
    return build_once(target, lambda staging: _export(gguf, staging))


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
