"""The page in a real browser (Debian's Chromium through Playwright) against real servers.

Two pages: one embedded (the app as `python app.py` builds it) serving a tiny model trained
to think then tap, and one in --backend-url mode in front of a second server with a random
tiny model that talks until stopped. A third browser has a fake microphone that plays a
sentence spoken by espeak-ng, and speaks to the embedded page.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, Playwright, expect

from autoglm_demo.main import build_page_app
from autoglm_demo.settings import Settings
from autoglm_demo.speech import audio
from autoglm_demo.ui.chat_tab import EXAMPLE_SCREENSHOT
from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, open_page, open_trace, send
from tests.conftest import app_for, free_port, page_settings, serve_app
from tests.speech_audio import RATE, speak, write_wav

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def embedded_page(tagged_model_dir: Path, offline_cache_dir: Path) -> Iterator[str]:
    port = free_port()
    settings = page_settings(tagged_model_dir, port, cache_dir=offline_cache_dir)
    with serve_app(build_page_app(settings), port=port) as base:
        yield base


@pytest.fixture(scope="module")
def remote_page(tiny_llama_dir: Path) -> Iterator[tuple[str, str]]:
    with serve_app(app_for(tiny_llama_dir, device="cpu")) as backend:
        port = free_port()
        settings = Settings(backend_url=backend + "/v1", port=port, log_level="warning")
        with serve_app(build_page_app(settings), port=port, ready_path=None) as page:
            yield page, backend


def test_question_with_screenshot_streams_reasoning_answer_and_overlay(
    browser: Browser, embedded_page: str
) -> None:
    page = open_page(browser, embedded_page)
    page.locator("#message textarea").press("Enter")  # nothing to send: a gentle toast
    expect(
        page.get_by_text("Type a message, attach an image or record audio first.")
    ).to_be_visible()

    send(page, "Where is the search box?", [EXAMPLE_SCREENSHOT])
    # Enter empties the box, its screenshot included, while the answer streams.
    expect(page.locator("#message textarea")).to_have_value("")
    expect(page.locator("#message img")).to_have_count(0)
    chat = page.locator("#chatbot")
    expect(chat).to_contain_text('do(action="Tap", element=[500,100])', timeout=60_000)
    expect(chat).to_contain_text("first token", timeout=10_000)  # the metrics footer
    open_trace(page, chat, "The user wants to search.")
    # The question's screenshot and the answer's overlay with the tap drawn on it.
    expect(chat.locator("img")).to_have_count(2, timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page-en.png"), full_page=True)

    page.locator("#undo").click()
    expect(chat).not_to_contain_text("Where is the search box?")
    expect(page.locator("#message textarea")).to_have_value("Where is the search box?")
    page.close()


# Every change of the bot bubbles' text, as the browser showed it.
WATCH_BUBBLES_JS = """
() => {
  window.__shown = [];
  new MutationObserver(() => {
    window.__shown.push([...document.querySelectorAll(
      '#chatbot [data-testid="bot"] .message-content')].map((bubble) => bubble.innerText));
  }).observe(document.querySelector('#chatbot'),
             {subtree: true, childList: true, characterData: true});
}
"""


def test_streamed_answer_only_grows(browser: Browser, embedded_page: str) -> None:
    """No token dropped or reordered on the way: the reasoning only grew while it streamed,
    and every text the answer bubble showed is a prefix of the text it ends with."""
    page = open_page(browser, embedded_page)
    page.evaluate(WATCH_BUBBLES_JS)
    send(page, "Where is the search box?")
    chat = page.locator("#chatbot")
    expect(chat).to_contain_text("first token", timeout=60_000)
    shown = [[" ".join(text.split()) for text in bubbles]
             for bubbles in page.evaluate("() => window.__shown")]
    final = shown[-1]
    answer = next(text for text in final if 'do(action="Tap"' in text)
    # The newest bubble of each moment: the reasoning while the model thinks (its block
    # nests while open and collapses when done, so positions shift), then the answer.
    steps = [bubbles[-1] for bubbles in shown if bubbles and bubbles[-1]]
    first = next(i for i, text in enumerate(steps) if answer.startswith(text))
    # The metrics footer, once the answer is done, is a bubble of its own.
    footer = final[-1] if final[-1] != answer else ""
    thinking = steps[:first]
    answering = [text for text in steps[first:] if not (footer and footer.startswith(text))]
    assert thinking and answering, steps
    assert all(thinking[-1].startswith(text) for text in thinking), thinking
    assert all(answer.startswith(text) for text in answering), answering
    assert len(steps) > 2, "nothing streamed"
    page.close()


def test_chinese_page(browser: Browser, embedded_page: str) -> None:
    page = open_page(browser, embedded_page, locale="zh-CN")
    expect(page.locator("#stop")).to_have_text("停止")
    send(page, "搜索框在哪里？")
    expect(page.locator("#chatbot")).to_contain_text("首字延迟", timeout=60_000)
    expect(page.locator("#chatbot").get_by_text("推理过程")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page-zh.png"), full_page=True)
    page.close()


def test_stop_ends_generation_on_the_backend(
    browser: Browser, remote_page: tuple[str, str]
) -> None:
    url, backend = remote_page
    page = open_page(browser, url)
    max_tokens = page.locator("#max-tokens input[type=number]")
    max_tokens.fill("1900")
    max_tokens.press("Enter")
    send(page, "Tell me a long story.")
    chat = page.locator("#chatbot")
    bot = chat.locator(".bot").last
    expect(bot).to_be_visible(timeout=30_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#chatbot .bot')].pop()?.innerText.length > 40",
        timeout=30_000,
    )
    page.locator("#stop").click()
    expect(chat).to_contain_text("Stopped", timeout=10_000)
    length = len(bot.inner_text())
    time.sleep(1.5)
    assert len(bot.inner_text()) == length, "the answer kept growing after Stop"
    # The engine serves one generation at a time: a new request is answered promptly only if
    # the stopped one really ended on the server.
    started = time.monotonic()
    reply = httpx.post(
        backend + "/v1/chat/completions",
        json={
            "model": "autoglm-phone-9b",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 1,
        },
        timeout=30,
    )
    assert reply.status_code == 200 and time.monotonic() - started < 5
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page-stopped.png"), full_page=True)
    page.close()


SPOKEN = "Send a message to Alice saying that I will be late for dinner."


def test_microphone_recording_becomes_the_question(
    playwright: Playwright, embedded_page: str, tmp_path: Path
) -> None:
    """Chromium's fake microphone plays a wav (in a loop) into the real record button."""
    spoken = audio.decode(speak(SPOKEN, tmp_path / "spoken.wav").read_bytes(), max_seconds=60)
    pause = np.zeros(RATE)  # the loop restarts after a second of quiet
    microphone = write_wav(tmp_path / "microphone.wav", np.concatenate([spoken, pause]))
    fake_microphone = [
        "--use-fake-ui-for-media-stream",  # grant the microphone without asking
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
    ]
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS + fake_microphone
    )
    page = open_page(browser, embedded_page)
    page.locator("#voice button.record-button").click()
    time.sleep(spoken.size / RATE + 0.5)
    page.locator("#voice button.stop-button").click()
    chat = page.locator("#chatbot")
    # Sent straight away (the default): the transcript is the question, with the recording
    # playable beside it, and the model answers it.
    expect(chat).to_contain_text("Alice", timeout=60_000)
    expect(chat).to_contain_text("dinner")
    expect(chat.locator("audio")).to_have_count(1)
    expect(chat).to_contain_text('do(action="Tap", element=[500,100])', timeout=60_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page-voice.png"), full_page=True)
    browser.close()


def test_compare_tab_answers_with_two_variants_side_by_side(
    browser: Browser, embedded_page: str
) -> None:
    page = open_page(browser, embedded_page)
    # The chat's settings list the variants with their memory and the reason for the default.
    expect(page.locator("#variants-info")).to_contain_text("torch dynamic int8")
    page.get_by_role("tab", name="Compare").click()
    expect(page.locator("#variant-a input")).to_have_value(
        re.compile(r"^full · transformers · \d+ KiB — autoglm-phone-9b-full$"), timeout=10_000
    )
    page.locator("#variant-b input").click()
    page.get_by_role("option", name="autoglm-phone-9b-int8").click()
    page.locator("#compare-message textarea").fill("Where is the search box?")
    page.locator("#compare-message textarea").press("Enter")
    for pane in ("#compare-a", "#compare-b"):
        expect(page.locator(pane)).to_contain_text("first token", timeout=90_000)
    expect(page.locator("#compare-a")).to_contain_text('do(action="Tap", element=[500,100])')
    expect(page.locator("#compare-a")).to_contain_text("autoglm-phone-9b")
    expect(page.locator("#compare-b")).to_contain_text("autoglm-phone-9b-int8")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page-compare.png"), full_page=True)
    page.close()
