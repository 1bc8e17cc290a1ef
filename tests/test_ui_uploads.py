"""Uploads: a private folder, a size limit at the door, and deletion when the session ends."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from autoglm_demo.conversation import Turn
from autoglm_demo.main import build_page_app
from autoglm_demo.settings import Settings
from autoglm_demo.ui.uploads import forget_session, private_upload_dir
from tests.conftest import free_port, serve_app


def test_upload_folder_is_private_to_this_user() -> None:
    folder = private_upload_dir()
    assert folder.is_dir()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert os.environ["GRADIO_TEMP_DIR"] == str(folder)


def test_closing_a_session_deletes_its_files_and_nothing_else(tmp_path: Path) -> None:
    inside = private_upload_dir() / "session-test"
    inside.mkdir(exist_ok=True)
    screenshot, recording, overlay = (inside / n for n in ("a.png", "b.wav", "c.png"))
    for path in (screenshot, recording, overlay):
        path.write_bytes(b"x")
    outside = tmp_path / "example.png"
    outside.write_bytes(b"x")
    turns = [
        Turn("one", images=[str(screenshot), str(outside)], audio=str(recording)),
        Turn("two", overlay=str(overlay)),
    ]
    forget_session(turns)
    assert not screenshot.exists() and not recording.exists() and not overlay.exists()
    assert outside.exists(), "files outside the private folder (shipped examples) stay"


@pytest.fixture(scope="module")
def remote_page() -> Iterator[str]:
    """The page alone (a backend that is not there), with a 1 MB upload limit."""
    port = free_port()
    settings = Settings(
        backend_url=f"http://127.0.0.1:{free_port()}/v1", port=port, max_upload_mb=1
    )
    with serve_app(build_page_app(settings), port=port, ready_path=None) as url:
        yield url


def test_uploads_over_the_limit_are_refused(remote_page: str) -> None:
    big = httpx.post(
        f"{remote_page}/gradio_api/upload",
        files={"files": ("big.png", b"\0" * (2 * 10**6), "image/png")},
        timeout=30,
    )
    assert big.status_code == 413
    small = httpx.post(
        f"{remote_page}/gradio_api/upload",
        files={"files": ("small.png", b"\0" * 1000, "image/png")},
        timeout=30,
    )
    assert small.status_code == 200
    [stored] = small.json()
    assert Path(stored).resolve().is_relative_to(private_upload_dir().resolve())
