"""The server over GLM-4.1V GGUF files on llama.cpp: a local GGUF with its vision projector.

The tiny Glm4v here is wired (tests/tiny_models.py) to answer every prompt with a known
reply: a reasoning trace, then an answer that repeats until max_tokens, so the reasoning
split, usage and cancellation have exact expectations. It is converted to GGUF by
llama.cpp's own converter, then served as `--model model-f32.gguf --mmproj mmproj-f32.gguf`;
int8 (Q8_0) and int4 (Q4_K_M) are quantized from it on first use.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from fastapi import FastAPI
from PIL import Image

from autoglm_demo.engine.gguf_convert import ConvertedModel, convert_checkpoint, converted_path
from tests.conftest import app_for, serve_app
from tests.tiny_models import build_tiny_glm4v

REPLY = ("<think>", " The", " search", " box", "</think>", "<answer>", " tap")
MODEL = "autoglm-phone-9b"


@pytest.fixture(scope="module")
def wired_dir(models_dir: Path, llama_cpp_converter: Path) -> Path:
    from autoglm_demo.engine.gguf_convert import GPT2_VOCAB

    return build_tiny_glm4v(models_dir / "wired-glm4v", llama_cpp_converter / GPT2_VOCAB, REPLY)


@pytest.fixture(scope="module")
def wired_gguf(wired_dir: Path, gguf_cache_dir: Path) -> ConvertedModel:
    target = converted_path(wired_dir, gguf_cache_dir, "f32")
    return convert_checkpoint(
        wired_dir, target, cache_dir=gguf_cache_dir, outtype="f32", vision=True
    )


@pytest.fixture(scope="module")
def app(wired_gguf: ConvertedModel, gguf_cache_dir: Path) -> FastAPI:
    return app_for(
        wired_gguf.text,
        mmproj=str(wired_gguf.mmproj),
        cache_dir=gguf_cache_dir,
        default_precision="full",
        max_loaded_variants=3,
    )


@pytest.fixture(scope="module")
def base_url(app: FastAPI) -> Iterator[str]:
    with serve_app(app) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="EMPTY", max_retries=0)


def image_part(size: tuple[int, int], color: str = "navy") -> dict[str, object]:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return {"type": "image_url", "image_url": {"url": uri}}


def transformers_prompt_tokens(checkpoint: Path, size: tuple[int, int], text: str) -> int:
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(checkpoint)
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image", "image": Image.new("RGB", size)},
                {"type": "text", "text": text},
            ],
        }
    ]
    inputs = processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True
    )
    return len(inputs["input_ids"][0])


def test_models_say_llama_cpp_serves_every_variant(base_url: str) -> None:
    cards = {card["id"]: card for card in httpx.get(f"{base_url}/v1/models").json()["data"]}
    assert set(cards) == {MODEL, f"{MODEL}-int8", f"{MODEL}-int4"}
    assert {card["runtime"] for card in cards.values()} == {"llama.cpp"}
    assert "F32 (the given file)" in cards[MODEL]["method"]
    assert "Q4_K_M" in cards[f"{MODEL}-int4"]["method"]
    full = cards[MODEL]
    assert full["status"] == "ready"
    assert full["capabilities"] == {"vision": True, "image_input": "native", "reasoning": True}


def test_images_are_seen_natively_and_counted(client: openai.OpenAI, wired_dir: Path) -> None:
    size = (300, 500)
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": [image_part(size), {"type": "text", "text": "Go"}]}],
        max_tokens=9,
        temperature=0,
    )
    usage = reply.usage
    assert usage is not None
    # Every image token, as transformers' processor counts them (not llama.cpp's positions).
    assert usage.prompt_tokens == transformers_prompt_tokens(wired_dir, size, "Go") > 180
    assert usage.completion_tokens == 9
    assert usage.total_tokens == usage.prompt_tokens + 9
    message = reply.choices[0].message
    assert message.reasoning_content.strip() == "The search box"  # type: ignore[attr-defined]
    assert message.content.strip() == "tap tap tap"  # 9 tokens: 6 of the reply, 3 of "tap"
    assert reply.choices[0].finish_reason == "length"


def test_reasoning_streams_apart_from_the_answer(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": [image_part((64, 64)), {"type": "text", "text": "?"}]}
        ],
        max_tokens=12,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    deltas = [chunk.choices[0].delta for chunk in chunks if chunk.choices]
    reasoning = "".join(getattr(d, "reasoning_content", None) or "" for d in deltas)
    answer = "".join(d.content or "" for d in deltas)
    assert reasoning.strip() == "The search box"
    assert answer.split() == ["tap"] * 6 and "<" not in answer
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 12


@pytest.mark.parametrize("variant", ["int8", "int4"])
def test_quantized_variants_see_the_same_image(client: openai.OpenAI, variant: str) -> None:
    def prompt_tokens(model: str) -> tuple[int, str | None]:
        reply = client.chat.completions.create(
            model=model,
            messages=[
                {
                    "role": "user",
                    "content": [image_part((200, 360)), {"type": "text", "text": "Go"}],
                }
            ],
            max_tokens=6,
            temperature=0,
        )
        assert reply.usage is not None
        return reply.usage.prompt_tokens, reply.choices[0].message.content

    # The same image tokens, and the wired reply survives quantization.
    assert prompt_tokens(f"{MODEL}-{variant}") == prompt_tokens(MODEL)


def test_an_over_long_prompt_gets_a_400_and_the_server_keeps_serving(base_url: str) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 4,
        # 1440x3200 is 5814 image tokens, past the model's 4096-token context.
        "messages": [
            {"role": "user", "content": [image_part((1440, 3200)), {"type": "text", "text": "?"}]}
        ],
    }
    response = httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=120)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert "5" in error["message"] and "4096" in error["message"]
    small = {**body, "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(f"{base_url}/v1/chat/completions", json=small, timeout=60).status_code == 200


def test_cancelling_a_stream_frees_the_model(app: FastAPI, base_url: str) -> None:
    engine = app.state.pool.get(MODEL).engine
    body = {
        "model": MODEL,
        "max_tokens": 3000,
        "temperature": 0,
        "stream": True,
        "messages": [
            {"role": "user", "content": [image_part((128, 256)), {"type": "text", "text": "Go"}]}
        ],
    }
    with httpx.stream("POST", f"{base_url}/v1/chat/completions", json=body, timeout=60) as response:
        lines = [line for _, line in zip(range(8), response.iter_lines())]
    assert any("tap" in line or "search" in line for line in lines)
    deadline = time.monotonic() + 10
    while engine.streams and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine.streams == 0, "the generation kept running after the client left"
    started = time.monotonic()
    quick = {**body, "stream": False, "max_tokens": 2}
    response = httpx.post(f"{base_url}/v1/chat/completions", json=quick, timeout=60)
    assert response.status_code == 200
    assert response.json()["usage"]["completion_tokens"] == 2
    assert time.monotonic() - started < 30
