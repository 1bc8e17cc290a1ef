"""The client behaves the same against each engine that serves the real model.

The engines put the reasoning trace in different places: `reasoning` (current vLLM with
--reasoning-parser), `reasoning_content` (older vLLM, SGLang), `<think>` tags inside
`content` (a request with `skip_special_tokens: false`), or, as AutoGLM is officially
served (vLLM without a reasoning parser, which drops the special-token tags), trace and
action together in `content` with no tags at all. They also
differ in role, finish and usage chunks and in their error bodies. The servers below are
test scaffolding standing in for those engines: each replays one scripted AutoGLM turn in
one engine's wire format, as their source writes it (vllm-project/vllm
vllm/entrypoints/openai/protocol.py and serving_chat.py; sgl-project/sglang
python/sglang/srt/entrypoints/openai/protocol.py and serving_chat.py).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from playwright.sync_api import Browser, expect

from autoglm_demo.client import (
    AnswerDelta,
    BackendClient,
    BackendError,
    ChatOptions,
    ClientEvent,
    Finish,
    ReasoningDelta,
    UsageReport,
)
from autoglm_demo.main import build_page_app
from autoglm_demo.settings import Settings
from autoglm_demo.ui.chat_tab import EXAMPLE_SCREENSHOT

# The page is driven like test_browser.py drives it, with its fixtures (browser, playwright).
from tests.browser import open_page, open_trace, send
from tests.conftest import free_port, serve_app

MODEL = "autoglm-phone-9b"
REASONING = "The user wants to search. The search box is at the top of the screen."
ANSWER = 'do(action="Tap", element=[500,100])'
USAGE = {"prompt_tokens": 321, "completion_tokens": 37, "total_tokens": 358}
CRASH = "crash"  # a user message that makes the engine fail mid-stream


@dataclass(frozen=True)
class EngineFormat:
    name: str
    trace_field: str | None  # None: the trace stays in content (see `tags`)
    flat_errors: bool  # {"object": "error", "message", …} instead of {"error": {…}}
    role_delta: dict[str, Any] = field(default_factory=lambda: {"role": "assistant", "content": ""})
    finish_delta: dict[str, Any] = field(default_factory=lambda: {"content": ""})
    finish_extra: dict[str, Any] = field(default_factory=lambda: {"stop_reason": None})
    tags: bool = True  # False: the special-token tags were dropped (vLLM's default decoding)

    def http_error(self, detail: dict[str, Any]) -> dict[str, Any]:
        return {"object": "error", **detail} if self.flat_errors else {"error": detail}

    def stream_error(self, detail: dict[str, Any]) -> dict[str, Any]:
        # Both engines wrap the error in "error" inside a stream, whatever their HTTP shape.
        return {"error": {"object": "error", **detail} if self.flat_errors else detail}


ENGINES = [
    EngineFormat("vllm", trace_field="reasoning", flat_errors=False),
    EngineFormat("vllm-legacy", trace_field="reasoning_content", flat_errors=True),
    EngineFormat("vllm-skip-special-tokens-false", trace_field=None, flat_errors=False),
    EngineFormat("vllm-official", trace_field=None, flat_errors=False, tags=False),
    EngineFormat(
        "sglang", trace_field="reasoning_content", flat_errors=True,
        finish_delta={}, finish_extra={"matched_stop": 151336},
    ),
]


def _pieces(text: str, size: int = 5) -> list[str]:
    """Token-sized pieces; size 5 cuts tags such as <think> in the middle."""
    return [text[i:i + size] for i in range(0, len(text), size)]


def _chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason, **extra}
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
            "choices": [choice]}


def _turn(engine: EngineFormat, crash: bool, include_usage: bool) -> Iterator[dict[str, Any]]:
    yield _chunk(engine.role_delta)
    if engine.trace_field:
        trace = [_chunk({engine.trace_field: piece}) for piece in _pieces(REASONING)]
        content = _pieces(f"<answer>{ANSWER}</answer>")
    elif engine.tags:
        trace = []
        content = _pieces(f"<think>{REASONING}</think><answer>{ANSWER}</answer>")
    else:
        trace = []
        content = _pieces(f"{REASONING}\n{ANSWER}")
    yield from trace
    if crash:
        detail = {"message": "CUDA out of memory", "type": "InternalServerError", "param": None,
                  "code": 500}
        yield engine.stream_error(detail)
        return
    for piece in content:
        yield _chunk({"content": piece})
    yield _chunk(engine.finish_delta, "stop", **engine.finish_extra)
    if include_usage:
        yield {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
               "choices": [], "usage": USAGE}


def engine_app(engine: EngineFormat) -> FastAPI:
    app = FastAPI()
    app.state.requests = []  # every chat request body, for tests of what the page sends

    @app.get("/health")
    def health() -> dict[str, str]:
        return {}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        card = {"id": MODEL, "object": "model", "created": 0, "owned_by": engine.name,
                "root": "zai-org/AutoGLM-Phone-9B", "max_model_len": 25480}
        return {"object": "list", "data": [card]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        app.state.requests.append(body)
        if body["model"] != MODEL:
            detail = {"message": f"The model `{body['model']}` does not exist.",
                      "type": "NotFoundError", "param": "model", "code": 404}
            return JSONResponse(engine.http_error(detail), status_code=404)
        crash = body["messages"][-1]["content"] == CRASH
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        lines = [f"data: {json.dumps(c)}\n\n" for c in _turn(engine, crash, include_usage)]
        return StreamingResponse(iter([*lines, "data: [DONE]\n\n"]), media_type="text/event-stream")

    return app


@pytest.fixture(scope="module")
def engine_apps() -> dict[str, FastAPI]:
    return {e.name: engine_app(e) for e in ENGINES}


@pytest.fixture(scope="module")
def engines(engine_apps: dict[str, FastAPI]) -> Iterator[dict[str, str]]:
    """Engine name → its /v1 URL, all served on loopback for the module."""
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(serve_app(app)) + "/v1" for name, app in engine_apps.items()
        }


def run_turn(
    base_url: str,
    text: str = "Where is the search box?",
    model: str = MODEL,
    *,
    reasoning_model: bool = True,
) -> list[ClientEvent]:
    async def collect() -> list[ClientEvent]:
        client = BackendClient(base_url)
        try:
            messages = [{"role": "user", "content": text}]
            events = client.stream_chat(
                model, messages, ChatOptions(max_tokens=64), reasoning_model=reasoning_model
            )
            return [event async for event in events]
        finally:
            await client.close()

    return asyncio.run(collect())


def coalesced(events: list[ClientEvent]) -> list[ClientEvent]:
    """Adjacent deltas of one kind joined: engines cut text at different places."""
    joined: list[ClientEvent] = []
    for event in events:
        previous = joined[-1] if joined else None
        if isinstance(event, (ReasoningDelta, AnswerDelta)) and type(previous) is type(event):
            joined[-1] = type(event)(previous.text + event.text)  # type: ignore[union-attr]
        else:
            joined.append(event)
    return joined


@pytest.mark.parametrize("engine", [e.name for e in ENGINES])
def test_every_engine_gives_the_same_events(engines: dict[str, str], engine: str) -> None:
    assert coalesced(run_turn(engines[engine])) == [
        ReasoningDelta(REASONING),
        AnswerDelta(ANSWER),
        Finish("stop"),
        UsageReport(prompt_tokens=321, completion_tokens=37),
    ]


def test_a_plain_model_served_the_official_way_is_never_cut(engines: dict[str, str]) -> None:
    assert coalesced(run_turn(engines["vllm-official"], reasoning_model=False)) == [
        AnswerDelta(f"{REASONING}\n{ANSWER}"),
        Finish("stop"),
        UsageReport(prompt_tokens=321, completion_tokens=37),
    ]


@pytest.mark.parametrize("engine", [e.name for e in ENGINES])
def test_every_engine_error_body_reads_the_same(engines: dict[str, str], engine: str) -> None:
    assert run_turn(engines[engine], model="autoglm") == [
        BackendError("The backend refused the request (404): The model `autoglm` does not exist.")
    ]


@pytest.mark.parametrize("engine", [e.name for e in ENGINES])
def test_every_engine_error_mid_stream_reads_the_same(engines: dict[str, str], engine: str) -> None:
    events = coalesced(run_turn(engines[engine], text=CRASH))
    assert events[-1] == BackendError("The backend failed while answering: CUDA out of memory")
    assert all(not isinstance(e, (AnswerDelta, Finish)) for e in events)


@pytest.mark.slow
def test_page_renders_reasoning_and_answer_from_tags_in_content(
    browser: Browser, engines: dict[str, str]
) -> None:
    port = free_port()
    backend = engines["vllm-skip-special-tokens-false"]
    settings = Settings(backend_url=backend, port=port, log_level="warning")
    with serve_app(build_page_app(settings), port=port, ready_path=None) as url:
        page = open_page(browser, url)
        send(page, "Where is the search box?")
        chat = page.locator("#chatbot")
        expect(chat).to_contain_text(ANSWER, timeout=30_000)
        open_trace(page, chat, REASONING)
        expect(chat).not_to_contain_text("<think>")
        page.close()


@pytest.mark.slow
def test_page_against_the_official_vllm_format(browser: Browser, engines: dict[str, str]) -> None:
    """Trace and action together in content, no tags, no reasoning field, a card with no
    reasoning flag: the Reasoning block gets the trace, the answer only the action, and
    the action is drawn."""
    port = free_port()
    settings = Settings(backend_url=engines["vllm-official"], port=port, log_level="warning")
    with serve_app(build_page_app(settings), port=port, ready_path=None) as url:
        page = open_page(browser, url)
        send(page, "Where is the search box?", [EXAMPLE_SCREENSHOT])
        chat = page.locator("#chatbot")
        expect(chat).to_contain_text("valid action", timeout=30_000)
        # The answer's paragraph holds the action alone: no trace before it.
        expect(chat.get_by_text(ANSWER, exact=True)).to_be_visible()
        open_trace(page, chat, REASONING)
        # The question's screenshot and the overlay with the tap drawn on it.
        expect(chat.locator("img")).to_have_count(2)
        page.close()


@pytest.mark.slow
def test_agent_mode_on_the_wire(
    browser: Browser, engines: dict[str, str], engine_apps: dict[str, FastAPI], tmp_path: Path
) -> None:
    """The preset prompt and the screen-info line reach the backend, and the second
    request carries only the latest screenshot, with the first answer in its tags."""
    port = free_port()
    sent = engine_apps["vllm-official"].state.requests
    settings = Settings(backend_url=engines["vllm-official"], port=port, log_level="warning")
    with serve_app(build_page_app(settings), port=port, ready_path=None) as url:
        page = open_page(browser, url)
        page.locator("#agent-language").get_by_text("en", exact=True).click()
        page.locator("#agent-mode input[type=checkbox]").check()
        expect(page.locator("#system-prompt textarea")).to_have_value(re.compile("Android phone"))
        page.locator("#current-app textarea").fill("Settings")
        sent.clear()
        send(page, "Open the Wi-Fi settings.", [EXAMPLE_SCREENSHOT])
        chat = page.locator("#chatbot")
        expect(chat.get_by_text("valid action")).to_have_count(1, timeout=30_000)
        next_screen = tmp_path / "next-screen.png"  # the screen after the first action
        shutil.copy(EXAMPLE_SCREENSHOT, next_screen)
        send(page, "", [next_screen])
        expect(chat.get_by_text("valid action")).to_have_count(2, timeout=30_000)
        page.close()
    first, second = sent
    system = second["messages"][0]
    assert system["role"] == "system"
    assert 'do(action="Tap", element=[x,y])' in system["content"]
    assert date.today().strftime("%Y-%m-%d") in system["content"]
    assert first["messages"][-1]["content"][-1]["text"] == (
        'Open the Wi-Fi settings.\n\n{"current_app": "Settings"}'
    )
    roles = [m["role"] for m in second["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    earlier, reply, latest = second["messages"][1:]
    assert [p["type"] for p in earlier["content"]] == ["text"]
    assert reply["content"] == f"<think>{REASONING}</think><answer>{ANSWER}</answer>"
    assert [p["type"] for p in latest["content"]] == ["image_url", "text"]
    assert latest["content"][1]["text"] == '** Screen Info **\n\n{"current_app": "Settings"}'
