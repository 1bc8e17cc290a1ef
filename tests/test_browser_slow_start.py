"""A backend slow to start answering (a long prompt, a loaded GPU): the page shows the
question at once, before any answer, and Stop works before the first token too. The
backend is a small OpenAI-style server on loopback that holds every answer until the test
opens its gate; a real Chromium drives the page in front of it."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from playwright.sync_api import Browser, expect

from autoglm_demo.main import build_page_app
from autoglm_demo.settings import Settings
from tests.browser import open_page, send
from tests.conftest import free_port, serve_app

pytestmark = pytest.mark.slow

MODEL = "autoglm-phone-9b"
ANSWER = 'do(action="Launch", app="Settings")'
HOLD_LIMIT_S = 60  # an answer is never held longer, whatever the test does


class GatedBackend:
    """Answers every chat request once `gate` is set; counts requests whose client left
    while they were held."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.left_while_held = 0
        self.app = FastAPI()
        self.app.get("/v1/models")(self.models)
        self.app.post("/v1/chat/completions")(self.chat)

    def models(self) -> dict[str, Any]:
        card = {"id": MODEL, "object": "model", "created": 0, "owned_by": "test"}
        return {"object": "list", "data": [card]}

    async def chat(self, request: Request) -> StreamingResponse:
        await request.json()
        return StreamingResponse(self._answer(request), media_type="text/event-stream")

    async def _answer(self, request: Request) -> AsyncIterator[str]:
        held = True
        try:
            for _ in range(HOLD_LIMIT_S * 20):
                if self.gate.is_set() or await request.is_disconnected():
                    break
                await asyncio.sleep(0.05)
            held = not self.gate.is_set()
            if held:
                return
        finally:  # a client that leaves may also end the response by cancelling it here
            if held:
                self.left_while_held += 1
        for delta in ({"role": "assistant", "content": ""}, {"content": ANSWER}):
            yield f"data: {json.dumps(_chunk(delta))}\n\n"
        yield f"data: {json.dumps(_chunk({}, 'stop'))}\n\n"
        yield "data: [DONE]\n\n"


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
            "choices": [choice]}


@pytest.fixture(scope="module")
def gated() -> Iterator[tuple[str, GatedBackend]]:
    backend = GatedBackend()
    with serve_app(backend.app, ready_path="/v1/models") as backend_url:
        port = free_port()
        settings = Settings(backend_url=backend_url + "/v1", port=port, log_level="warning")
        with serve_app(build_page_app(settings), port=port, ready_path=None) as url:
            yield url, backend
        backend.gate.set()  # nothing stays held when the servers stop


def test_the_question_shows_before_a_slow_answer(
    browser: Browser, gated: tuple[str, GatedBackend]
) -> None:
    url, backend = gated
    backend.gate.clear()
    page = open_page(browser, url)
    send(page, "Open the Settings app.")
    chat = page.locator("#chatbot")
    expect(chat).to_contain_text("Open the Settings app.", timeout=10_000)
    expect(chat).not_to_contain_text(ANSWER)  # still held: the question came alone
    backend.gate.set()
    expect(chat).to_contain_text(ANSWER, timeout=30_000)
    page.close()


def test_stop_before_the_first_token(browser: Browser, gated: tuple[str, GatedBackend]) -> None:
    url, backend = gated
    backend.gate.clear()
    left = backend.left_while_held
    page = open_page(browser, url)
    send(page, "Open the Settings app.")
    chat = page.locator("#chatbot")
    expect(chat).to_contain_text("Open the Settings app.", timeout=10_000)
    page.locator("#stop").click()
    expect(chat).to_contain_text("Stopped", timeout=10_000)
    page.wait_for_function("() => true", timeout=1_000)
    deadline_checks = 50
    while backend.left_while_held == left and deadline_checks:
        page.wait_for_timeout(100)
        deadline_checks -= 1
    assert backend.left_while_held == left + 1, "the held request was not given up"
    # The page goes on: the next question is answered.
    backend.gate.set()
    send(page, "And now?")
    expect(chat).to_contain_text(ANSWER, timeout=30_000)
    page.close()
