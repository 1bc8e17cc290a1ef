"""The OpenAI-compatible API over real HTTP, on a tiny random Llama built by the tests."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fastapi import FastAPI
from PIL import Image

from tests.conftest import app_for, serve_app

MODEL = "autoglm-phone-9b"


@pytest.fixture(scope="module")
def app(tiny_llama_dir: Path) -> FastAPI:
    return app_for(tiny_llama_dir, served_model_name=(MODEL, "alias"), max_images=2)


@pytest.fixture(scope="module")
def base_url(app: FastAPI) -> Iterator[str]:
    with serve_app(app) as url:
        yield url


@pytest.fixture()
def api(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


@pytest.fixture()
def sdk(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key="EMPTY", max_retries=0)


def chat(**fields: object) -> dict[str, object]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "Hello there"}], **fields}


def png_data_uri(color: str = "red") -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def sse_events(response: httpx.Response) -> list[str]:
    return [line[6:] for line in response.iter_lines() if line.startswith("data: ")]


def test_health_and_models_describe_the_served_names(api: httpx.Client) -> None:
    assert api.get("/health").json()["status"] == "ready"
    cards = api.get("/v1/models").json()["data"]
    # Each variant by its precision; the default one (full on transformers) by the bare names too.
    assert [card["id"] for card in cards] == [
        f"{MODEL}-full", "alias-full", MODEL, "alias",
        f"{MODEL}-int8", "alias-int8", f"{MODEL}-int4", "alias-int4",
    ]
    assert [card["default"] for card in cards] == [True] * 4 + [False] * 4
    assert cards[0]["capabilities"] == {"vision": False, "image_input": "ocr", "reasoning": False}
    assert cards[0]["precision"] == "full" and cards[0]["dtype"] == "float32"
    assert cards[0]["status"] == "ready" and cards[0]["weight_bytes"] > 0
    assert cards[4]["status"] == "unloaded" and cards[4]["capabilities"] is None


def test_whole_response_has_usage_and_length_finish(sdk: openai.OpenAI) -> None:
    response = sdk.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=7, temperature=0
    )
    assert response.choices[0].finish_reason == "length"
    assert response.usage.completion_tokens == 7
    assert response.usage.total_tokens == response.usage.prompt_tokens + 7
    assert response.choices[0].message.content


def test_alias_names_reach_the_same_model(sdk: openai.OpenAI) -> None:
    response = sdk.chat.completions.create(
        model="alias", messages=[{"role": "user", "content": "Hi"}], max_tokens=2
    )
    assert response.model == "alias"


def test_stream_matches_whole_response_and_ends_with_done(
    api: httpx.Client, sdk: openai.OpenAI
) -> None:
    whole = sdk.chat.completions.create(**chat(max_tokens=12, temperature=0))
    with api.stream(
        "POST",
        "/v1/chat/completions",
        json=chat(
            max_tokens=12, temperature=0, stream=True, stream_options={"include_usage": True}
        ),
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == whole.choices[0].message.content
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == whole.usage.model_dump(exclude_none=True)
    assert chunks[-2]["choices"][0]["finish_reason"] == whole.choices[0].finish_reason


def test_seed_makes_sampling_repeatable(sdk: openai.OpenAI) -> None:
    def sample() -> str | None:
        return sdk.chat.completions.create(**chat(max_tokens=10, temperature=1.0, seed=7)).choices[
            0
        ].message.content

    assert sample() == sample()


def test_stop_sequence_cuts_the_answer(sdk: openai.OpenAI) -> None:
    full = sdk.chat.completions.create(**chat(max_tokens=40, temperature=0)).choices[0]
    text = full.message.content or ""
    assert len(text) > 6
    stop = text[3:6]
    cut = sdk.chat.completions.create(**chat(max_tokens=40, temperature=0, stop=[stop])).choices[0]
    assert cut.message.content == text[: text.index(stop)]
    assert cut.finish_reason == "stop"


def test_a_temperature_next_to_zero_decodes_greedily(sdk: openai.OpenAI) -> None:
    greedy = sdk.chat.completions.create(**chat(max_tokens=12, temperature=0)).choices[0]
    tiny = sdk.chat.completions.create(**chat(max_tokens=12, temperature=5e-324)).choices[0]
    assert tiny.message.content == greedy.message.content and greedy.message.content


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (chat(model="nope"), 404, "does not exist"),
        ({"model": MODEL, "messages": []}, 400, "messages"),
        (chat(messages=[{"role": "user", "content": "  "}]), 400, "empty"),
        (chat(messages=[{"content": "hi"}]), 400, "role"),
        (chat(messages=[{"role": "tool", "content": "x"}]), 400, "not supported"),
        (chat(temperature=5), 400, "temperature"),
        (chat(top_p=0), 400, "top_p"),
        (chat(max_tokens=0), 400, "max_tokens"),
        (chat(n=2), 400, "n"),
        (chat(max_tokens=10**9), 400, "tokens are left"),
        (
            chat(messages=[{"role": "user", "content": [{"type": "video", "video": "x"}]}]),
            400,
            "content",
        ),
        (
            chat(
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}
                        ],
                    }
                ]
            ),
            400,
            "base64",
        ),
        (
            chat(
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image_url",
                                "image_url": {
                                    "url": "data:image/png;base64,"
                                    + base64.b64encode(b"%PDF-1.4 not an image").decode()
                                },
                            }
                        ],
                    }
                ]
            ),
            400,
            "not a readable image",
        ),
        (
            chat(
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "http://127.0.0.1/x.png"}}
                        ],
                    }
                ]
            ),
            400,
            "data: URIs",
        ),
        (
            chat(
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": png_data_uri()}}]
                        * 3,
                    }
                ]
            ),
            400,
            "at most 2",
        ),
        (
            chat(
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}
                        ],
                    }
                ]
            ),
            400,
            "data: URIs",
        ),
        (
            chat(
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image_url",
                                "image_url": {"url": "data:text/plain;base64,aGk="},
                            }
                        ],
                    }
                ]
            ),
            400,
            "expected data:image/",
        ),
        (
            chat(
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image_url",
                                "image_url": {"url": "data:image/png," + "x" * 10},
                            }
                        ],
                    }
                ]
            ),
            400,
            "expected data:image/",
        ),
        (chat(messages=[{"role": "user", "content": "word " * 3000}]), 400, "context"),
        (chat(stop=5), 400, "stop"),
        (chat(seed="abc"), 400, "seed"),
    ],
    ids=[
        "unknown-model",
        "no-messages",
        "empty-message",
        "no-role",
        "tool-role",
        "temperature",
        "top-p",
        "max-tokens-zero",
        "n",
        "max-tokens-over-context",
        "unknown-part",
        "bad-base64",
        "pdf-as-image",
        "remote-url",
        "too-many-images",
        "file-url",
        "wrong-mime",
        "not-base64-uri",
        "prompt-over-context",
        "stop-not-text",
        "seed-not-int",
    ],
)
def test_bad_requests_get_openai_errors(
    api: httpx.Client, body: dict[str, object], status: int, fragment: str
) -> None:
    response = api.post("/v1/chat/completions", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert fragment in error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "Traceback" not in response.text and "/site-packages/" not in response.text


def test_malformed_json_is_a_400_and_the_server_keeps_serving(api: httpx.Client) -> None:
    response = api.post(
        "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]["message"]
    assert api.post("/v1/chat/completions", json=chat(max_tokens=2)).status_code == 200


def test_images_reach_a_text_only_model_as_ocr_text(api: httpx.Client) -> None:
    body = chat(
        max_tokens=2,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": png_data_uri()}},
                    {"type": "text", "text": "What is this?"},
                ],
            },
            {"role": "assistant", "content": "A red square."},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": png_data_uri("blue")}},
                    {"type": "text", "text": "And this?"},
                ],
            },
        ],
    )
    response = api.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["prompt_tokens"] > 20


def test_concurrent_streams_all_complete_correctly(base_url: str, sdk: openai.OpenAI) -> None:
    prompts = [f"Question number {i}" for i in range(4)]
    expected = [
        sdk.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": p}], max_tokens=16, temperature=0
        ).choices[0].message.content
        for p in prompts
    ]

    async def stream(client: openai.AsyncOpenAI, prompt: str) -> str:
        parts = []
        async for chunk in await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": prompt}],
            max_tokens=16,
            temperature=0,
            stream=True,
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
        return "".join(parts)

    async def all_at_once() -> list[str]:
        async with openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="EMPTY") as client:
            return await asyncio.gather(*(stream(client, p) for p in prompts))

    assert asyncio.run(all_at_once()) == expected


def test_client_disconnect_cancels_generation(
    app: FastAPI, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = app.state.pool.default.engine.runtime
    spy = _GenerationSpy(runtime.generate)
    monkeypatch.setattr(runtime, "generate", spy)  # the app lives on: restored after the test
    with api.stream(
        "POST", "/v1/chat/completions", json=chat(max_tokens=2000, temperature=0, stream=True)
    ) as response:
        for _ in zip(range(5), response.iter_lines(), strict=False):
            pass
    deadline = time.monotonic() + 5
    while spy.active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not spy.active, "generation kept running after the client left"
    assert spy.cancelled[-1].is_set()
    assert spy.produced[-1] < 2000
    # The slot is free again: the next request is served at once.
    assert api.post("/v1/chat/completions", json=chat(max_tokens=2)).status_code == 200


class _GenerationSpy:
    """Wraps the live runtime's generate to observe cancellation from outside."""

    def __init__(self, generate: Any) -> None:
        self._inner = generate
        self.active = 0
        self.cancelled: list[threading.Event] = []
        self.produced: list[int] = []

    def __call__(
        self, prompt: Any, params: Any, cancel: threading.Event
    ) -> Iterator[Any]:
        self.cancelled.append(cancel)
        self.produced.append(0)
        self.active += 1
        try:
            for event in self._inner(prompt, params, cancel):
                self.produced[-1] += 1
                yield event
        finally:
            self.active -= 1
