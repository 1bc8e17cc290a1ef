"""Measuring the agent in a real browser (Debian's Chromium through Playwright): a tester
asks about a screenshot with --qa on, marks the right answer by clicking two corners of a
box on the screenshot in the QA tab, replays the session on two variants, and reads the
accuracy table. The tiny model is trained to answer a tap at [500,100], so a box around
that point is a hit for full precision."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.browser import ARTIFACTS, open_page, send
from tests.test_browser_qa import serve_qa_page

pytestmark = pytest.mark.slow

TAP = 'do(action="Tap", element=[500,100])'
QUESTION = "Where is the search box?"


@pytest.fixture(scope="module")
def qa_page(
    tagged_model_dir: Path, offline_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("qa")
    # The screenshot is marked on in the QA tab, so the store keeps it.
    with serve_qa_page(tagged_model_dir, offline_cache_dir, folder, qa_store_media=True) as base:
        yield base


def click_relative(page: Page, selector: str, x: float, y: float) -> None:
    """Click the shown image at AutoGLM coordinates (0-1000), wherever it is laid out."""
    image = page.locator(selector)
    # The image is scaled to fit its frame, keeping its proportions.
    layout = image.evaluate(
        "img => { const r = img.getBoundingClientRect();"
        " const s = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight, 1);"
        " return {w: img.naturalWidth * s, h: img.naturalHeight * s,"
        " left: (r.width - img.naturalWidth * s) / 2, top: (r.height - img.naturalHeight * s) / 2};"
        " }"
    )
    image.click(
        position={
            "x": layout["left"] + x / 1000 * layout["w"],
            "y": layout["top"] + y / 1000 * layout["h"],
        }
    )


def test_mark_a_box_then_measure_two_variants(
    browser: Browser, qa_page: str, tmp_path: Path
) -> None:
    screen = tmp_path / "screen.png"
    Image.new("RGB", (400, 800), (250, 250, 250)).save(screen)
    page = open_page(browser, qa_page)
    send(page, QUESTION, [screen])
    chat = page.locator("#chatbot")
    expect(chat).to_contain_text(TAP, timeout=60_000)
    expect(chat).to_contain_text("first token", timeout=10_000)  # finished, and recorded

    page.get_by_role("tab", name="QA").click()
    sessions = page.locator("#qa-sessions")
    expect(sessions).to_contain_text(QUESTION, timeout=30_000)
    sessions.get_by_role("gridcell").filter(has_text=QUESTION).first.click()
    expect(page.locator("#qa-session-header")).to_contain_text("turns: 1", timeout=30_000)

    # Two opposite corners of a box around the search box, on the screenshot itself.
    shown = "#mark-image img"
    expect(page.locator(shown)).to_be_visible(timeout=30_000)
    hint = page.locator("#mark-hint")
    click_relative(page, shown, 300, 50)
    expect(hint).to_contain_text("now click the opposite corner")
    click_relative(page, shown, 700, 150)
    expect(hint).to_contain_text("Ready")
    page.locator("#mark-save").click()
    expect(page.locator("#mark-score")).to_contain_text("✓ right", timeout=30_000)
    expect(page.locator("#mark-score")).to_contain_text("the marked right answer")  # legend
    expect(page.locator("#qa-transcript")).to_contain_text("✓ right")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page-qa-marked.png"), full_page=True)

    # Measure on the session, on two of the variants the backend serves.
    page.locator("#acc-sessions input").click()
    page.get_by_role("option").filter(has_text=QUESTION).first.click()
    page.keyboard.press("Escape")
    for variant in ("autoglm-phone-9b-full", "autoglm-phone-9b-int8"):
        page.locator("#acc-variants").get_by_label(variant).check()
    page.locator("#acc-run").click()
    table = page.locator("#acc-table")
    expect(table).to_contain_text("autoglm-phone-9b-int8", timeout=180_000)
    expect(page.locator("#acc-status")).to_contain_text("1 marked answers per variant")
    rows = {
        cells[0]: cells
        for row in table.get_by_role("row").all()
        if (cells := [cell.strip() for cell in row.get_by_role("gridcell").all_inner_texts()])
    }
    assert list(rows) == ["autoglm-phone-9b-full", "autoglm-phone-9b-int8"]
    full, int8 = rows.values()
    # variant, model, hits, scored, share, interval: full precision taps the marked box.
    assert full[2:] == ["1", "1", "100%", "21% – 100%"], full
    assert int8[3] == "1", int8  # its one marked answer is scored too
    # The two replays are sessions of their own, listed again once the run is over.
    expect(sessions).to_contain_text("autoglm-phone-9b-int8", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "page-qa-accuracy.png"), full_page=True)
    page.close()


def test_upload_an_episode_mark_a_step_and_dry_run_it(
    browser: Browser, qa_page: str, tmp_path: Path
) -> None:
    steps = []
    for number in (1, 2):
        path = tmp_path / f"step-{number}.png"
        Image.new("RGB", (400, 800), (240, 240, 250 - number)).save(path)
        steps.append(str(path))
    page = open_page(browser, qa_page)
    # The dry run asks with the Chat tab's answer settings. The agent's prompt and the first
    # step's answer leave the tiny model's 2048-token context too little room for the
    # chat's default 1024 new tokens at the second step; 256 fit.
    max_tokens = page.locator("#max-tokens input[type=number]")
    max_tokens.fill("256")
    max_tokens.press("Enter")
    page.get_by_role("tab", name="QA").click()
    page.locator("#ep-task textarea").fill("Search for Wi-Fi")
    page.set_input_files("#ep-screens input[type=file]", steps)
    expect(page.locator("#ep-screens").get_by_role("row")).to_have_count(2, timeout=30_000)
    page.locator("#ep-create").click()
    # Opened at once, with its first step picked for marking.
    expect(page.locator("#qa-session-header")).to_contain_text("turns: 2", timeout=30_000)
    shown = "#mark-image img"
    expect(page.locator(shown)).to_be_visible(timeout=30_000)
    # Each click redraws the screenshot; the next one goes on the redrawn image.
    click_relative(page, shown, 300, 50)
    expect(page.locator("#mark-hint")).to_contain_text("now click the opposite corner")
    click_relative(page, shown, 700, 150)
    expect(page.locator("#mark-hint")).to_contain_text("Ready")
    page.locator("#mark-save").click()
    expect(page.locator("#mark-score")).to_contain_text("Not answered yet", timeout=30_000)
    expect(page.locator("#mark-turn input")).to_have_value(
        "#1 · Search for Wi-Fi · marked", timeout=30_000
    )

    page.locator("#qa-replay-target input").click()
    page.get_by_role("option", name="autoglm-phone-9b-full").first.click()
    page.locator("#ep-dry-run").click()
    status = page.locator("#ep-status")
    expect(status).to_contain_text("1 of 1 marked steps right (2 steps)", timeout=180_000)
    strip = page.locator("#ep-strip")
    expect(strip.locator("img")).to_have_count(2)
    expect(strip).to_contain_text(f"1. ✓ {TAP}")
    # The second step is not marked, and answered all the same: it fits in 256 tokens.
    expect(strip).to_contain_text(f"2. – {TAP}")
    expect(page.locator("#ep-steps")).not_to_contain_text("max_tokens")
    expect(page.locator("#ep-steps")).to_contain_text("The user wants to search.")
    page.screenshot(path=str(ARTIFACTS / "page-qa-episode.png"), full_page=True)
    page.close()
