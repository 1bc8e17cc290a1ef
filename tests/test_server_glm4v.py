"""The reference path: a tiny random Glm4v model and processor, served over real HTTP.

Same loading code as zai-org/AutoGLM-Phone-9B (AutoConfig → Glm4vForConditionalGeneration,
AutoProcessor), only smaller.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import torch
from PIL import Image

from tests.conftest import app_for, serve_app


@pytest.fixture(scope="module")
def base_url(tiny_glm4v_dir: Path, gguf_cache_dir: Path) -> Iterator[str]:
    app = app_for(tiny_glm4v_dir, cache_dir=gguf_cache_dir, default_precision="full")
    with serve_app(app) as url:
        yield url


def image_part(color: str, size: tuple[int, int] = (64, 64)) -> dict[str, object]:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG")
    uri = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
    return {"type": "image_url", "image_url": {"url": uri}}


def test_models_report_native_vision_and_reasoning(base_url: str) -> None:
    card = httpx.get(f"{base_url}/v1/models").json()["data"][0]
    assert card["capabilities"] == {"vision": True, "image_input": "native", "reasoning": True}
    assert card["runtime"] == "transformers" and card["precision"] == "full"
    assert card["dtype"] == "float32"


@pytest.mark.parametrize("variant", ["int8", "int4"])
def test_quantized_variants_see_images_too(base_url: str, variant: str) -> None:
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="EMPTY", max_retries=0)

    def prompt_tokens(*parts: dict[str, object]) -> int:
        reply = client.chat.completions.create(
            model=f"autoglm-phone-9b-{variant}",
            messages=[{"role": "user", "content": [*parts, {"type": "text", "text": "Tap"}]}],
            max_tokens=4,
            temperature=0,
        )
        assert reply.usage and reply.usage.completion_tokens == 4
        return reply.usage.prompt_tokens

    # The image's own tokens reach the quantized model, not OCR text.
    assert prompt_tokens(image_part("blue", (128, 128))) > prompt_tokens()
    cards = {card["id"]: card for card in httpx.get(f"{base_url}/v1/models").json()["data"]}
    assert cards[f"autoglm-phone-9b-{variant}"]["capabilities"]["image_input"] == "native"
    # Without CUDA, a vision model's quantized variants run on llama.cpp, never bitsandbytes
    # (whose NF4 fails on some CPUs); with it, they stay on transformers.
    runtime = "transformers" if torch.cuda.is_available() else "llama.cpp"
    assert cards[f"autoglm-phone-9b-{variant}"]["runtime"] == runtime


def test_images_and_text_stream_back(base_url: str) -> None:
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="EMPTY")
    messages = [
        {"role": "user", "content": [image_part("red"), {"type": "text", "text": "Tap search"}]},
        {"role": "assistant", "content": 'do(action="Tap", element=[500,100])'},
        {
            "role": "user",
            "content": [image_part("green"), image_part("blue", (80, 120)), {"type": "text", "text": "Now?"}],
        },
    ]
    stream = client.chat.completions.create(
        model="autoglm-phone-9b",
        messages=messages,
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens == 8
    # Three 64x64-ish images at 9+ vision tokens each: the images really entered the prompt.
    assert usage.prompt_tokens > 3 * 9


def test_bigger_screenshots_become_more_vision_tokens(base_url: str) -> None:
    def usage_for(size: tuple[int, int]) -> int:
        body = {
            "model": "autoglm-phone-9b",
            "messages": [{"role": "user", "content": [image_part("red", size), {"type": "text", "text": "?"}]}],
            "max_tokens": 1,
        }
        return httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=60).json()["usage"][
            "prompt_tokens"
        ]

    # A bigger screenshot becomes more vision tokens, as the processor's grid says.
    assert usage_for((64, 64)) == usage_for((64, 64)) < usage_for((224, 448))
