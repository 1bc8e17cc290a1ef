"""llama.cpp's conversion of GLM-4.1V against transformers, on the same tiny random weights.

The checkpoint is converted by llama.cpp's own converter of the pinned version (fetched
with pip) at f32, so both sides compute in the same precision and must agree: the prompt
token count of screenshots of several sizes (one over libmtmd's default cap of 4096
tokens), the vision embeddings, and greedy tokens.
"""

from __future__ import annotations

import ctypes
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from autoglm_demo.engine.gguf_convert import ConvertedModel, convert_checkpoint, converted_path
from autoglm_demo.engine.llama_cpp_vision_runtime import LlamaCppVisionRuntime, align_image
from autoglm_demo.engine.types import ChatMessage, SamplingParams, TextDelta


@pytest.fixture(scope="session")
def tiny_glm4v_f32(tiny_glm4v_dir: Path, gguf_cache_dir: Path) -> ConvertedModel:
    target = converted_path(tiny_glm4v_dir, gguf_cache_dir, "f32")
    return convert_checkpoint(
        tiny_glm4v_dir, target, cache_dir=gguf_cache_dir, outtype="f32", vision=True
    )


@pytest.fixture(scope="module")
def runtime(tiny_glm4v_f32: ConvertedModel) -> LlamaCppVisionRuntime:
    assert tiny_glm4v_f32.mmproj is not None
    # A context of 8192, beyond the tiny model's 4096, so that a 5814-token screenshot fits.
    return LlamaCppVisionRuntime.load(
        tiny_glm4v_f32.text,
        tiny_glm4v_f32.mmproj,
        source="tiny",
        dtype="F32",
        context_length=8192,
    )


@pytest.fixture(scope="module")
def reference(tiny_glm4v_dir: Path) -> tuple[Any, Any]:
    from transformers import AutoProcessor, Glm4vForConditionalGeneration

    processor = AutoProcessor.from_pretrained(tiny_glm4v_dir)
    model = Glm4vForConditionalGeneration.from_pretrained(tiny_glm4v_dir, dtype=torch.float32)
    return processor, model.eval()


def screenshot(width: int, height: int, seed: int = 0) -> Image.Image:
    """Noise with some structure: bands and blocks, like a busy screen."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return Image.fromarray(pixels).resize((width, height), Image.Resampling.NEAREST)


def reference_inputs(processor: Any, image: Image.Image, text: str) -> Any:
    messages = [
        {
            "role": "user",
            "content": [{"type": "image", "image": image}, {"type": "text", "text": text}],
        }
    ]
    return processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )


@pytest.mark.parametrize(
    "size", [(64, 64), (333, 517), (1080, 2400), (1440, 3200)], ids=lambda s: f"{s[0]}x{s[1]}"
)
def test_prompt_tokens_match_transformers(
    runtime: LlamaCppVisionRuntime, reference: tuple[Any, Any], size: tuple[int, int]
) -> None:
    processor, _ = reference
    image = Image.new("RGB", size, "white")
    expected = int(reference_inputs(processor, image, "Open settings")["input_ids"].shape[1])
    prompt = runtime.prepare([ChatMessage("user", "Open settings", [image])], {})
    assert prompt.prompt_tokens == expected
    if size == (1440, 3200):
        assert expected > 5800  # past libmtmd's default cap of 4096 image tokens


def test_vision_embeddings_match_transformers(
    runtime: LlamaCppVisionRuntime, reference: tuple[Any, Any]
) -> None:
    import llama_cpp
    import llama_cpp.mtmd_cpp as mtmd

    processor, model = reference
    image = screenshot(540, 1200)  # a phone screen's shape, not a multiple of 28
    inputs = reference_inputs(processor, image, "")
    with torch.no_grad():
        features = model.model.get_image_features(
            inputs["pixel_values"], inputs["image_grid_thw"]
        ).pooler_output[0]

    chunks = runtime.tokenize(runtime._marker, [align_image(image)])
    (chunk,) = [
        chunks[i]
        for i in range(chunks.count)
        if mtmd.mtmd_input_chunk_get_type(chunks[i]) == mtmd.MTMD_INPUT_CHUNK_TYPE_IMAGE
    ]
    assert mtmd.mtmd_encode_chunk(runtime.mtmd_context, chunk) == 0
    tokens = mtmd.mtmd_input_chunk_get_n_tokens(chunk)
    width = llama_cpp.llama_model_n_embd(runtime.llm.model)
    pointer = mtmd.mtmd_get_output_embd(runtime.mtmd_context)
    ours = np.ctypeslib.as_array(
        ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(tokens, width)
    )

    theirs = features.numpy()
    assert ours.shape == theirs.shape
    cosine = float((ours * theirs).sum() / (np.linalg.norm(ours) * np.linalg.norm(theirs)))
    assert cosine >= 0.999, cosine


def test_greedy_tokens_match_transformers(
    runtime: LlamaCppVisionRuntime, reference: tuple[Any, Any]
) -> None:
    processor, model = reference
    image = screenshot(300, 500, seed=1)
    inputs = reference_inputs(processor, image, "Tap the search box")
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    new = generated[0, inputs["input_ids"].shape[1] :].tolist()
    ends = set(model.generation_config.eos_token_id)
    new = new[: next((i for i, t in enumerate(new) if t in ends), len(new))]
    expected = processor.tokenizer.decode(new, skip_special_tokens=False)

    prompt = runtime.prepare([ChatMessage("user", "Tap the search box", [image])], {})
    events = list(
        runtime.generate(prompt, SamplingParams(max_tokens=12, temperature=0), threading.Event())
    )
    text = "".join(event.text for event in events if isinstance(event, TextDelta))
    assert text == expected
    assert events[-1].completion_tokens == len(new)  # type: ignore[union-attr]


def test_every_stop_token_of_the_generation_config_ends_a_turn(
    runtime: LlamaCppVisionRuntime, tiny_glm4v_dir: Path
) -> None:
    # The GGUF marks only <|endoftext|> and <|user|> as end-of-generation; GLM-4.1V's
    # generation config also stops on <|observation|>, and so must the runtime.
    stops = json.loads((tiny_glm4v_dir / "generation_config.json").read_text())["eos_token_id"]
    assert len(stops) == 3
    assert all(runtime._is_end(token) for token in stops)
    assert not runtime._is_end(runtime.llm.tokenize(b" tap", add_bos=False)[0])


def test_frequency_penalty_changes_the_text_and_repeats_less(
    runtime: LlamaCppVisionRuntime,
) -> None:
    """Penalties reach llama.cpp's sampler on the vision runtime too (greedy decoding)."""
    image = screenshot(300, 500, seed=1)
    prompt = runtime.prepare([ChatMessage("user", "Tap the search box", [image])], {})

    def generated(frequency_penalty: float) -> list[int]:
        params = SamplingParams(max_tokens=48, temperature=0, frequency_penalty=frequency_penalty)
        events = runtime.generate(prompt, params, threading.Event())
        text = "".join(event.text for event in events if isinstance(event, TextDelta))
        return runtime.llm.tokenize(text.encode(), add_bos=False, special=True)

    plain, penalised = generated(0.0), generated(2.0)
    assert penalised != plain
    assert len(penalised) - len(set(penalised)) < len(plain) - len(set(plain))
