"""The offline default (SmolLM2-135M-Instruct from PyPI), loaded for real and served on loopback.

These are the slow tests: the first run makes the F32 and Q8_0 files from the shipped GGUF
(seconds, once, into the cache folder); later runs load them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI
from PIL import Image, ImageDraw, ImageFont

from autoglm_demo.engine.catalogue import variant_specs
from autoglm_demo.engine.engine import Engine
from autoglm_demo.engine.types import ChatMessage
from autoglm_demo.settings import Settings
from tests.conftest import app_for, serve_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base_url(offline_cache_dir: Path) -> Iterator[str]:
    with serve_app(app_for(None, cache_dir=offline_cache_dir)) as url:
        yield url


def test_the_seed_langchain_call_works_as_written(base_url: str) -> None:
    chat_model = ChatOpenAI(
        model="autoglm-phone-9b",
        temperature=0.5,
        base_url=f"{base_url}/v1",
        api_key="EMPTY",
        extra_body={"enable_thinking": True, "return_reasoning": True},
        streaming=True,
    )
    reply = chat_model.invoke("你是谁？")
    answer = reply.content
    assert isinstance(answer, str) and answer.strip()
    assert reply.response_metadata["finish_reason"] in {"stop", "length"}
    assert not any(tag in answer for tag in ("<think>", "</think>", "<|im_start|>", "<|im_end|>"))
    # Greedy, the same streamed call gives exactly the answer the plain API gives whole.
    greedy = ChatOpenAI(
        model="autoglm-phone-9b",
        temperature=0,
        max_tokens=40,
        base_url=f"{base_url}/v1",
        api_key="EMPTY",
        extra_body={"enable_thinking": True, "return_reasoning": True},
        streaming=True,
    )
    whole = openai.OpenAI(base_url=f"{base_url}/v1", api_key="EMPTY").chat.completions.create(
        model="autoglm-phone-9b",
        messages=[{"role": "user", "content": "你是谁？"}],
        temperature=0,
        max_tokens=40,
        extra_body={"enable_thinking": True, "return_reasoning": True},
    )
    assert greedy.invoke("你是谁？").content == whole.choices[0].message.content


def test_the_bare_name_answers_from_the_variant_loaded_at_start(base_url: str) -> None:
    health = httpx.get(f"{base_url}/health").json()
    assert health["status"] == "ready" and health["model"] == "autoglm-phone-9b-int8"
    cards = {card["id"]: card for card in httpx.get(f"{base_url}/v1/models").json()["data"]}
    assert cards["autoglm-phone-9b"]["precision"] == "int8"
    assert cards["autoglm-phone-9b"]["status"] == "ready" and cards["autoglm-phone-9b"]["default"]


def test_answers_a_simple_question_sensibly(base_url: str) -> None:
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="EMPTY")
    # Full precision: greedy int8 on a 135M model flips this one on a near-tie ("L'").
    response = client.chat.completions.create(
        model="autoglm-phone-9b-full",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        temperature=0,
        max_tokens=32,
    )
    assert "Paris" in (response.choices[0].message.content or "")
    assert response.choices[0].finish_reason == "stop"
    # A model that does not think has no trace, and that is not an error.
    assert response.choices[0].message.model_extra["reasoning_content"] is None


def test_openai_sdk_streams_deltas(base_url: str) -> None:
    async def collect() -> tuple[list[str], str | None]:
        async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="EMPTY") as client:
            stream = await client.chat.completions.create(
                model="autoglm-phone-9b",
                messages=[{"role": "user", "content": "Name three colours."}],
                temperature=0,
                max_tokens=40,
                stream=True,
                extra_body={"enable_thinking": True, "return_reasoning": True},
            )
            pieces, finish = [], None
            async for chunk in stream:
                delta = chunk.choices[0].delta
                assert not (delta.model_extra or {}).get("reasoning_content")
                pieces.append(delta.content or "")
                finish = chunk.choices[0].finish_reason or finish
            return pieces, finish

    pieces, finish = asyncio.run(collect())
    assert sum(1 for p in pieces if p) > 3, "the answer should arrive in several deltas"
    assert finish in {"stop", "length"}


def test_models_report_that_images_are_read_with_ocr(base_url: str) -> None:
    cards = httpx.get(f"{base_url}/v1/models").json()["data"]
    card = next(card for card in cards if card["default"])
    assert card["status"] == "ready"
    assert card["capabilities"]["image_input"] == "ocr"
    assert "SmolLM2" in card["root"]


def test_screenshot_text_reaches_the_prompt_labelled_as_ocr(offline_cache_dir: Path) -> None:
    (int8,) = variant_specs(Settings(cache_dir=offline_cache_dir, precisions=("int8",)))
    engine = Engine(int8.load)
    engine.load()
    screenshot = Image.new("RGB", (360, 640), "white")
    draw = ImageDraw.Draw(screenshot)
    draw.text((20, 40), "Settings", fill="black", font=ImageFont.load_default(size=28))
    draw.text((20, 120), "Bluetooth", fill="black", font=ImageFont.load_default(size=28))

    prompt = asyncio.run(
        engine.prepare([ChatMessage("user", "Where is Bluetooth?", [screenshot])], {})
    )
    rendered = engine.runtime.llm.detokenize(prompt.inputs).decode()  # type: ignore[attr-defined]
    assert "[Image 1, OCR text]" in rendered
    assert "Settings" in rendered and "Bluetooth" in rendered
    assert rendered.index("Bluetooth") < rendered.index("Where is Bluetooth?")
