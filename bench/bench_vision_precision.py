"""Precision benchmark of the vision model: the tiny Glm4v per runtime and precision.

The real GLM-4.1V architecture, tiny and random (tests/tiny_models.py, GPT-2's vocabulary),
served the way `--model` serves a checkpoint: transformers float32 and torch dynamic int8
(`--runtime transformers`), and llama.cpp F16, Q8_0 and Q4_K_M with the vision projector
(`--runtime llama.cpp`, converted by llama.cpp's own converter). For each variant, over
one 1080x2400 screenshot plus a task:

- weights: what the runtime reports once loaded (the projector included on llama.cpp);
- prefill: from the rendered prompt to the first token (the vision encoder plus the
  language model's prefill of about 3,400 tokens), the figure a phone agent waits for;
- decode tok/s over 32 greedy tokens.

Random weights say nothing about quality (their greedy choices are near ties, which any
rounding flips); the converter's fidelity is checked at f32 in tests/test_llama_cpp_glm4v.py.

Medians over rounds; each round visits every variant. The weights are tiny, so the prefill
is dominated by the vision encoder and attention over the screenshot's tokens, and says
how the runtimes compare there, not how fast the 9B model is.

    python -m bench.bench_vision_precision [--rounds 3] [--threads N]

Writes bench/results/vision_precision.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from autoglm_demo.engine.catalogue import variant_specs
from autoglm_demo.engine.gguf_convert import GPT2_VOCAB, converter_dir
from autoglm_demo.engine.types import ChatMessage, Runtime, SamplingParams, TextDelta
from autoglm_demo.settings import Settings
from bench.common import DEFAULT_CACHE_DIR, RESULTS_DIR
from tests.tiny_models import build_tiny_glm4v

TASK = "Open the settings app and turn on Wi-Fi."
DECODE_TOKENS = 32


def tiny_checkpoint(cache_dir: Path) -> Path:
    """The tiny Glm4v, built once into the cache so its conversions are reused."""
    folder = cache_dir / "bench" / "tiny-glm4v-gpt2"
    if not (folder / "model.safetensors").is_file():
        build_tiny_glm4v(folder, converter_dir(cache_dir) / GPT2_VOCAB)
    return folder


def load_variants(checkpoint: Path, cache_dir: Path, threads: int) -> list[tuple[str, Runtime]]:
    loaded = []
    for runtime in ("transformers", "llama.cpp"):
        settings = Settings(
            model=str(checkpoint),
            runtime=runtime,
            device="cpu",
            cache_dir=cache_dir,
            llama_threads=threads,
        )
        for spec in variant_specs(settings):
            label = f"{spec.precision}: {spec.method}"
            loaded.append((label, spec.load(lambda phase: None)))
    return loaded


def screenshot() -> Image.Image:
    small = Image.effect_noise((135, 300), 64).convert("RGB")
    return small.resize((1080, 2400), Image.Resampling.NEAREST)


def one_round(runtime: Runtime, image: Image.Image) -> dict[str, Any]:
    prompt = runtime.prepare([ChatMessage("user", TASK, [image])], {})
    started = time.perf_counter()
    times = []
    params = SamplingParams(max_tokens=DECODE_TOKENS, temperature=0)
    for event in runtime.generate(prompt, params, threading.Event()):
        if isinstance(event, TextDelta):
            times.append(time.perf_counter())
    return {
        "prompt_tokens": prompt.prompt_tokens,
        "prefill_s": times[0] - started,
        "decode_tok_s": (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else None,
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads for torch and llama.cpp alike (0: torch's default, every core for "
        "llama.cpp); on a crowded machine spinning llama.cpp threads lose badly",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    variants = load_variants(tiny_checkpoint(args.cache_dir), args.cache_dir, args.threads)
    image = screenshot()
    rounds: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in variants}
    for _ in range(args.rounds):
        for label, runtime in variants:
            rounds[label].append(one_round(runtime, image))
    rows = []
    for label, runtime in variants:
        measured = rounds[label]
        rows.append(
            {
                "variant": label,
                "weights_mb": runtime.info.weight_bytes / 2**20,
                "prompt_tokens": measured[0]["prompt_tokens"],
                "prefill_s": statistics.median(m["prefill_s"] for m in measured),
                "decode_tok_s": statistics.median(m["decode_tok_s"] or 0 for m in measured),
            }
        )
    print("| variant | weights | prompt tokens | prefill (screenshot to 1st token) | decode |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row['variant']} | {row['weights_mb']:.1f} MiB | {row['prompt_tokens']} "
            f"| {row['prefill_s']:.2f} s | {row['decode_tok_s']:.0f} tok/s |"
        )
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "vision_precision.json").write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
