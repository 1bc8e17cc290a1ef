"""Driving the page in Debian's Chromium through Playwright: launch flags and page steps.

The `playwright` and `browser` fixtures live in conftest.py; this module holds what the
browser tests share besides them.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

# Every page event goes through Gradio's queue, and on two busy cores a toast or a
# re-render has been seen to take more than Playwright's default 5 s. This is how long an
# expectation may wait, a bound and not a measurement: a passing one returns at once.
expect.set_options(timeout=20_000)


def open_page(browser: Browser, url: str, locale: str = "en-US") -> Page:
    page = browser.new_page(locale=locale, viewport={"width": 1400, "height": 1000})
    page.goto(url)
    # The model list arrives with the page's load event; the precision radio shows it.
    expect(page.locator("#precision")).to_contain_text("autoglm-phone-9b", timeout=30_000)
    return page


def send(page: Page, text: str, images: list[Path] = ()) -> None:
    if images:
        page.set_input_files("#message input[type=file]", [str(p) for p in images])
        expect(page.locator("#message img")).to_have_count(len(images), timeout=10_000)
    page.locator("#message textarea").fill(text)
    page.locator("#message textarea").press("Enter")


def open_trace(page: Page, chat: Locator, trace_text: str) -> None:
    """Make the finished reasoning block show `trace_text`.

    A finished trace collapses, and a click opens it; the collapse (a re-render of the
    chat) can land just after a click on a loaded machine, so each click gets a bounded
    wait for the trace, and a block closed again is clicked again."""
    reasoning = chat.get_by_text("Reasoning")
    expect(reasoning).to_be_visible()
    trace = chat.get_by_text(trace_text)
    for _ in range(5):
        if trace.is_visible():
            return
        reasoning.click()
        try:
            expect(trace).to_be_visible(timeout=2_000)
            return
        except AssertionError:
            page.wait_for_timeout(200)
    expect(trace).to_be_visible()
