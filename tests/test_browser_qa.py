"""QA sessions in a real browser (Debian's Chromium through Playwright): a page started with
--qa records the conversation; the tester rates an answer with a comment, finds the session
in the QA tab, and exports it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from autoglm_demo.main import build_page_app
from tests.browser import ARTIFACTS, open_page, send
from tests.conftest import free_port, page_settings, serve_app

pytestmark = pytest.mark.slow

TAP = 'do(action="Tap", element=[500,100])'
COMMENT = "Tapped the title bar, not the search box."


@contextmanager
def serve_qa_page(model: Path, cache_dir: Path, folder: Path, **options: Any) -> Iterator[str]:
    """A page started with --qa, recording into a new SQLite store in `folder`."""
    port = free_port()
    database = f"sqlite:///{folder / 'qa.sqlite3'}"
    settings = page_settings(model, port, cache_dir=cache_dir, qa=True, qa_db=database, **options)
    with serve_app(build_page_app(settings), port=port) as base:
        yield base


@pytest.fixture(scope="module")
def qa_page(
    tagged_model_dir: Path, offline_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with serve_qa_page(tagged_model_dir, offline_cache_dir, tmp_path_factory.mktemp("qa")) as base:
        yield base


def test_rate_an_answer_then_find_and_export_the_session(browser: Browser, qa_page: str) -> None:
    page = open_page(browser, qa_page)
    expect(page.locator("#qa-recording input[type=checkbox]")).to_be_checked()  # --qa
    send(page, "Where is the search box?")
    chat = page.locator("#chatbot")
    expect(chat).to_contain_text(TAP, timeout=60_000)
    expect(chat).to_contain_text("first token", timeout=10_000)  # finished, and recorded

    chat.get_by_role("button", name="Dislike").last.click()
    comment = page.locator("#qa-comment textarea")
    expect(comment).to_be_visible()
    comment.fill(COMMENT)
    page.locator("#qa-save-comment").click()
    expect(page.get_by_text("Comment saved.")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page-qa-rated.png"), full_page=True)

    page.get_by_role("tab", name="QA").click()
    sessions = page.locator("#qa-sessions")
    expect(sessions).to_contain_text("Where is the search box?", timeout=30_000)
    sessions.get_by_role("gridcell").filter(has_text="Where is the search box?").first.click()
    expect(page.locator("#qa-transcript")).to_contain_text(COMMENT, timeout=30_000)
    expect(page.locator("#qa-session-header")).to_contain_text("turns: 1")

    page.locator("#qa-export").click()
    link = page.locator("#qa-exported a[href$='.jsonl']")
    expect(link).to_be_visible(timeout=30_000)
    with page.expect_download() as download:
        link.click()
    header, turn = [
        json.loads(line)
        for line in Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    ]
    assert header["format"] == "autoglm-qa-session"
    assert turn["text"] == "Where is the search box?" and turn["answer"] == TAP
    assert turn["reasoning"].startswith("The user wants to search.")
    assert turn["feedback"]["rating"] == "bad" and turn["feedback"]["comment"] == COMMENT
    assert turn["metrics"]["ttft_s"] is not None
    page.screenshot(path=str(ARTIFACTS / "page-qa.png"), full_page=True)
    page.close()
