"""GPU check: the real GLM-4.1V-9B configuration in bf16, through the transformers runtime.

For an NVIDIA machine with torch, transformers and accelerate and no network (pillow and
torchvision, which GLM-4.1V's processor needs, travel with the tree as wheels if absent).
No hub is reachable, so the weights are random, in the published sizes of
zai-org/GLM-4.1V-9B-Thinking (AutoGLM-Phone-9B's architecture): a 40-layer GLM-4 decoder
(hidden 4096, 32 query and 2 key-value heads, MLP 13696, vocabulary 151552, M-RoPE
sections 8/12/12 over half of each head) and a 24-layer vision tower (hidden 1536, 12 heads)
that merges 2x2 patches of 14 pixels into the decoder's width.

One 1080x2400 screenshot plus a task goes through the product's own TransformersRuntime
(the processor, `model.generate`, the streaming decoder), and the check reports:
- screenshot-to-first-token (TTFT) through the runtime, and the part of it the processor
  takes on the CPU; then the prefill forward and the vision encoder each timed alone (best
  of three), which say where the rest goes;
- decode tokens/s against the memory-bandwidth ceiling: every decode step reads all decoder
  weights (the embedding table aside) once, so bandwidth / those bytes is the ceiling;
  bandwidth is measured here with a device-to-device copy, beside the H200's nominal figure;
- peak GPU memory.

Random weights decode at random, so the language-model head is restricted to printable
tokens of the test vocabulary (other rows zeroed: the same bytes are read every step);
every step then streams text and the timing is that of real decoding.

    python -m bench.gpu_check            # on the GPU: under 5 minutes on an H200
    python -m bench.gpu_check --dry-run  # a tiny configuration on the CPU (tests call this)

Prints a table; --json writes the figures too.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from autoglm_demo.engine.transformers_runtime import TransformersRuntime
from autoglm_demo.engine.types import ChatMessage, SamplingParams, TextDelta
from tests.tiny_models import (
    TINY_GLM4V_TEXT,
    TINY_GLM4V_VISION,
    glm4v_token_config,
    write_glm4v_processor,
)

TASK = "Open the settings app and turn on Wi-Fi."
NOMINAL_BANDWIDTH = {"H200": 4.8e12, "H100": 3.35e12, "A100": 2.0e12}
"""Bytes/s from the vendors' data sheets (SXM parts), for the target line."""

# zai-org/GLM-4.1V-9B-Thinking, config.json.
REAL_TEXT = {
    "vocab_size": 151552,
    "hidden_size": 4096,
    "intermediate_size": 13696,
    "num_hidden_layers": 40,
    "num_attention_heads": 32,
    "num_key_value_heads": 2,
    "attention_bias": True,
    "max_position_embeddings": 65536,
    "rms_norm_eps": 1e-5,
    "rope_parameters": {
        "rope_type": "default",
        "rope_theta": 10000.0,
        "partial_rotary_factor": 0.5,
        "mrope_section": [8, 12, 12],
    },
}
REAL_VISION = {
    "depth": 24,
    "hidden_size": 1536,
    "num_heads": 12,
    "intermediate_size": 13696,
    "out_hidden_size": 4096,
    "image_size": 336,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "rms_norm_eps": 1e-5,
}
# The tiny GLM-4.1V of tests/tiny_models.py, for the dry run.
TINY_TEXT = {"vocab_size": 320, "max_position_embeddings": 8192, **TINY_GLM4V_TEXT}
TINY_VISION = TINY_GLM4V_VISION


@dataclass(frozen=True)
class Figures:
    device: str
    dtype: str
    attention: str
    screenshot: str
    prompt_tokens: int
    processor_ms: float
    vision_ms: float
    prefill_ms: float
    ttft_ms: float
    decode_tokens: int
    decode_tok_s: float
    decode_weight_gb: float
    bandwidth_tb_s: float
    ceiling_tok_s: float
    target_tok_s: float | None
    peak_memory_gb: float


def build_runtime(real: bool, device: str, dtype: torch.dtype, folder: Path) -> TransformersRuntime:
    """The model with random weights, built in place on the device, and its processor."""
    from transformers import (
        AutoProcessor,
        GenerationConfig,
        Glm4vConfig,
        Glm4vForConditionalGeneration,
    )

    tokenizer = write_glm4v_processor(folder)
    tokens = glm4v_token_config(tokenizer)
    config = Glm4vConfig(
        text_config={**(REAL_TEXT if real else TINY_TEXT), **tokens["text"]},
        vision_config=REAL_VISION if real else TINY_VISION,
        **tokens["model"],
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = Glm4vForConditionalGeneration._from_config(config, dtype=dtype).eval()
    model.generation_config = GenerationConfig(
        eos_token_id=tokens["text"]["eos_token_id"], pad_token_id=tokens["text"]["pad_token_id"]
    )
    _printable_head_only(model, tokenizer)
    processor = AutoProcessor.from_pretrained(folder)
    return TransformersRuntime(model, processor.tokenizer, processor, "GLM-4.1V-9B (random)")


def _printable_head_only(model: Any, tokenizer: Any) -> None:
    keep = torch.zeros(model.lm_head.weight.shape[0], dtype=torch.bool)
    for token_id in range(len(tokenizer)):
        text = tokenizer.decode([token_id])
        printable = bool(text) and text.isascii() and text.isprintable()
        keep[token_id] = printable and token_id not in tokenizer.all_special_ids
    with torch.no_grad():
        model.lm_head.weight[~keep.to(model.lm_head.weight.device)] = 0


def screenshot(width: int, height: int) -> Image.Image:
    """A busy screen: blocks of noise (random weights do not care what it shows)."""
    generator = torch.Generator().manual_seed(0)
    blocks = torch.randint(0, 256, (height // 24 + 1, width // 24 + 1, 3), generator=generator)
    small = Image.fromarray(blocks.to(torch.uint8).numpy())
    return small.resize((width, height), Image.Resampling.NEAREST)


def measure(runtime: TransformersRuntime, image: Image.Image, decode_tokens: int) -> dict[str, Any]:
    sync = torch.cuda.synchronize if runtime.model.device.type == "cuda" else (lambda: None)
    messages = [ChatMessage("user", TASK, [image])]
    warm_up = SamplingParams(max_tokens=2, temperature=0)  # kernels, allocator, caches
    for _ in runtime.generate(runtime.prepare(messages, {}), warm_up, threading.Event()):
        pass
    if runtime.model.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    started = time.perf_counter()
    prompt = runtime.prepare(messages, {})
    prepared = time.perf_counter()
    times = []
    for event in runtime.generate(
        prompt, SamplingParams(max_tokens=decode_tokens, temperature=0), threading.Event()
    ):
        if isinstance(event, TextDelta):
            times.append(time.perf_counter())
    vision_ms, prefill_ms = _isolated_ms(runtime, prompt.inputs, sync)
    return {
        "prompt_tokens": prompt.prompt_tokens,
        "processor_ms": (prepared - started) * 1e3,
        "vision_ms": vision_ms,
        "prefill_ms": prefill_ms,
        "ttft_ms": (times[0] - started) * 1e3,
        "decode_tokens": len(times),
        "decode_tok_s": (len(times) - 1) / (times[-1] - times[0]),
    }


def _isolated_ms(runtime: TransformersRuntime, inputs: Any, sync: Any) -> tuple[float, float]:
    """The vision encoder alone, and the whole prefill forward (vision included) alone, on
    the same screenshot: best of three each."""
    model = runtime.model
    on_device = inputs.to(model.device)

    def best(step: Any) -> float:
        fastest = float("inf")
        with torch.inference_mode():
            for _ in range(3):
                sync()
                started = time.perf_counter()
                step()
                sync()
                fastest = min(fastest, time.perf_counter() - started)
        return fastest * 1e3

    vision = best(
        lambda: model.model.get_image_features(
            on_device["pixel_values"], on_device["image_grid_thw"]
        )
    )
    prefill = best(lambda: model(**on_device, logits_to_keep=1))
    return vision, prefill


def decode_weight_bytes(model: Any) -> int:
    """Bytes every decode step reads: the decoder's weights and head, not the embedding
    table (one row of it is read per token) and not the vision tower."""
    text = model.model.language_model
    decoder = sum(p.numel() * p.element_size() for p in text.parameters())
    embedding = text.embed_tokens.weight
    head = model.lm_head.weight
    return (
        decoder - embedding.numel() * embedding.element_size() + head.numel() * head.element_size()
    )


def copy_bandwidth(device: str) -> float:
    """Measured device memory bandwidth (bytes/s): read plus write of a large copy."""
    if device != "cuda":
        return float("nan")
    source = torch.empty(2**30, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(10):
        target.copy_(source)
    torch.cuda.synchronize()
    return 2 * source.numel() * 10 / (time.perf_counter() - started)


def run(real: bool, device: str, size: tuple[int, int], decode_tokens: int) -> Figures:
    dtype = torch.bfloat16 if real else torch.float32
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as folder:
        runtime = build_runtime(real, device, dtype, Path(folder))
        measured = measure(runtime, screenshot(*size), decode_tokens)
    model = runtime.model
    weight = decode_weight_bytes(model)
    bandwidth = copy_bandwidth(device)
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    nominal = next((value for key, value in NOMINAL_BANDWIDTH.items() if key in name), None)
    return Figures(
        device=name,
        dtype=str(dtype).removeprefix("torch."),
        attention=model.config._attn_implementation,
        screenshot=f"{size[0]}x{size[1]}",
        prompt_tokens=measured["prompt_tokens"],
        processor_ms=measured["processor_ms"],
        vision_ms=measured["vision_ms"],
        prefill_ms=measured["prefill_ms"],
        ttft_ms=measured["ttft_ms"],
        decode_tokens=measured["decode_tokens"],
        decode_tok_s=measured["decode_tok_s"],
        decode_weight_gb=weight / 1e9,
        bandwidth_tb_s=bandwidth / 1e12,
        ceiling_tok_s=bandwidth / weight,
        target_tok_s=nominal / weight / 2 if nominal else None,
        peak_memory_gb=torch.cuda.max_memory_allocated() / 1e9
        if device == "cuda"
        else float("nan"),
    )


def table(figures: Figures) -> str:
    rows = [
        ("device", figures.device),
        ("weights", f"{figures.dtype}, attention {figures.attention}"),
        ("screenshot + task", f"{figures.screenshot}, {figures.prompt_tokens} prompt tokens"),
        ("TTFT (screenshot to first token)", f"{figures.ttft_ms:.0f} ms"),
        ("  of which the processor (CPU)", f"{figures.processor_ms:.0f} ms"),
        ("prefill forward alone", f"{figures.prefill_ms:.0f} ms"),
        ("  of which the vision encoder", f"{figures.vision_ms:.0f} ms"),
        ("decode", f"{figures.decode_tok_s:.1f} tok/s over {figures.decode_tokens} tokens"),
        ("decode weights read per token", f"{figures.decode_weight_gb:.2f} GB"),
        ("measured copy bandwidth", f"{figures.bandwidth_tb_s:.2f} TB/s"),
        ("bandwidth ceiling", f"{figures.ceiling_tok_s:.0f} tok/s"),
        (
            "target (half the nominal ceiling)",
            f"{figures.target_tok_s:.0f} tok/s" if figures.target_tok_s else "n/a",
        ),
        ("peak GPU memory", f"{figures.peak_memory_gb:.1f} GB"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"| {name.ljust(width)} | {value} |" for name, value in rows)


def main(argv: list[str] | None = None) -> Figures:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="the tiny configuration on the CPU, to check the script itself",
    )
    parser.add_argument("--decode-tokens", type=int, default=256)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.dry_run:
        figures = run(real=False, device="cpu", size=(270, 600), decode_tokens=8)
    else:
        if not torch.cuda.is_available():
            raise SystemExit("No CUDA device: run with --dry-run on a CPU")
        figures = run(real=True, device="cuda", size=(1080, 2400), decode_tokens=args.decode_tokens)
    print(table(figures))
    if args.json:
        args.json.write_text(json.dumps(asdict(figures), indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
