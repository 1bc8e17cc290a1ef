"""`python app.py` serves its API before its page: while Gradio imports and the page is built,
/health and /v1 answer, / answers an honest 503 that reloads itself, and the body caps
already hold; then the page is mounted, and answers. A page that cannot be built stops the
process with the reason.

The page mounted this way is the only one there is: tests/test_page_files.py,
test_page_limits.py and test_access.py check its protections on this same app.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from autoglm_demo import main
from autoglm_demo.main import PAGE_REQUEST_BYTES, build_page_app
from autoglm_demo.server.page_start import PageStart, PageState
from autoglm_demo.settings import Settings
from tests.conftest import free_port, serve_app

ROOT = Path(__file__).resolve().parent.parent
BAD_QA_DB = "mysql://user@host/db"


@pytest.fixture
def held_mount(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Holds the page's mount until the event is set, so the app can be seen before it."""
    go = threading.Event()
    mount = main.mount_page

    def held(app: FastAPI, settings: Settings) -> main.Lifespan:
        assert go.wait(120), "the test never let the page be mounted"
        return mount(app, settings)

    monkeypatch.setattr(main, "mount_page", held)
    return go


def no_model_settings(folder: Path, **options: Any) -> Settings:
    """The embedded API with a config without weights: it fails to load at once, so /v1
    answers with no model loaded."""
    (folder / "config.json").write_text('{"model_type": "llama"}')
    options = {"qa_db": f"sqlite:///{folder / 'qa.sqlite3'}", **options}
    return Settings(model=str(folder), log_level="warning", **options)


def wait_until_started(page: PageStart) -> None:
    deadline = time.monotonic() + 120
    while page.state is PageState.STARTING and time.monotonic() < deadline:
        time.sleep(0.05)


def test_the_api_answers_while_the_page_starts_then_the_page_does(
    held_mount: threading.Event, tmp_path: Path
) -> None:
    port = free_port()
    app = build_page_app(no_model_settings(tmp_path, port=port))
    with serve_app(app, port=port, ready_path=None, wait_for_page=False) as url:
        health = httpx.get(f"{url}/health")
        assert health.status_code == 503  # the model's state: this one has no weights
        assert health.json()["page"] == "starting"
        assert httpx.get(f"{url}/v1/models").status_code == 200
        for path in ("/", "/config", "/gradio_api/info"):
            starting = httpx.get(url + path)
            assert starting.status_code == 503, path
            assert starting.headers["retry-after"] == "1"
            assert '<meta http-equiv="refresh" content="1">' in starting.text
            assert "The page is starting" in starting.text and "<script" not in starting.text
        # The page's body caps are in place before the page is.
        too_big = httpx.post(f"{url}/", content=b"x" * (PAGE_REQUEST_BYTES + 1))
        assert too_big.status_code == 413

        held_mount.set()
        wait_until_started(app.state.page_start)
        assert app.state.page_start.state is PageState.READY, app.state.page_start.error
        assert httpx.get(f"{url}/health").json()["page"] == "ready"
        page = httpx.get(f"{url}/")
        assert page.status_code == 200 and "The page is starting" not in page.text
        assert "chatbot" in httpx.get(f"{url}/config").text


def test_a_page_with_a_remote_backend_has_its_own_health(
    held_mount: threading.Event, tmp_path: Path
) -> None:
    """What a container's health check polls, where this process serves no model."""
    port = free_port()
    settings = Settings(
        backend_url=f"http://127.0.0.1:{free_port()}/v1",
        port=port,
        log_level="warning",
        qa_db=f"sqlite:///{tmp_path / 'qa.sqlite3'}",
    )
    app = build_page_app(settings)
    with serve_app(app, port=port, ready_path=None, wait_for_page=False) as url:
        starting = httpx.get(f"{url}/health")
        assert starting.status_code == 503
        assert starting.json() == {
            "status": "loading",
            "detail": "The page is starting.",
            "model": None,
            "page": "starting",
        }
        held_mount.set()
        wait_until_started(app.state.page_start)
        ready = httpx.get(f"{url}/health")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready" and ready.json()["page"] == "ready"
        assert httpx.get(f"{url}/v1/models").status_code == 404  # no API of its own


def test_a_page_that_cannot_start_says_so_and_stops_the_server(tmp_path: Path) -> None:
    port = free_port()
    stopped = threading.Event()
    settings = no_model_settings(tmp_path, port=port, qa_db=BAD_QA_DB)
    app = build_page_app(settings, on_failure=stopped.set)
    with serve_app(app, port=port, ready_path=None, wait_for_page=False) as url:
        assert stopped.wait(120), "the page neither failed nor called on_failure"
        assert app.state.page_start.state is PageState.FAILED
        assert "sqlite or postgresql, not mysql" in app.state.page_start.error
        assert httpx.get(f"{url}/health").json()["page"] == "failed"
        failed = httpx.get(f"{url}/")
        assert failed.status_code == 500 and "could not start" in failed.text


def test_python_app_py_exits_with_the_reason_when_its_page_cannot_start(tmp_path: Path) -> None:
    env = {**os.environ, "AUTOGLM_CACHE_DIR": str(tmp_path), "GRADIO_ANALYTICS_ENABLED": "False"}
    args = [
        "app.py",
        "--backend-url",
        "http://127.0.0.1:9/v1",
        "--port",
        str(free_port()),
        "--qa-db",
        BAD_QA_DB,
    ]
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.rstrip().endswith(
        "The page could not start: --qa-db: the QA store works with sqlite or postgresql, not mysql"
    ), result.stderr[-3000:]
