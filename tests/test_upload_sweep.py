"""Uploads nobody claims are swept away after an hour; what a tab's chat or the page holds
stays (a real page on loopback, its folder swept every 0.2 s instead of every 10 minutes,
files aged by setting their modification time back)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from autoglm_demo.main import build_page_app
from autoglm_demo.ui import upload_sweep
from tests.conftest import free_port, page_settings, serve_app
from tests.gradio_protocol import upload
from tests.test_page_files import png, send_screenshot

pytestmark = pytest.mark.slow

TWO_HOURS_S = 7200


@pytest.fixture(scope="module")
def page(tagged_model_dir: Path, offline_cache_dir: Path) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(upload_sweep, "SWEEP_EVERY_S", 0.2)
        port = free_port()
        settings = page_settings(tagged_model_dir, port, cache_dir=offline_cache_dir)
        with serve_app(build_page_app(settings), port=port) as base:
            yield base


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def gone_within(path: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not path.exists()


def test_an_unclaimed_upload_goes_after_an_hour_and_held_files_stay(page: str) -> None:
    with httpx.Client(base_url=page, timeout=120) as http:
        [examples] = [c for c in http.get("/config").json()["components"] if c["type"] == "dataset"]
        example = Path(examples["props"]["samples"][0][0]["files"][0]["path"])
        session = uuid.uuid4().hex[:11]
        with http.stream("GET", f"/gradio_api/heartbeat/{session}") as heartbeat:
            assert next(heartbeat.iter_lines()) == "data: ALIVE"  # the tab is open
            in_chat = Path(upload(http, "in-chat.png", png("olive")))
            url = send_screenshot(http, str(in_chat), session)
            unclaimed = Path(upload(http, "unclaimed.png", png("maroon")))
            recent = Path(upload(http, "recent.png", png("navy")))
            for path in (in_chat, unclaimed, example):
                age(path, TWO_HOURS_S)

            assert gone_within(unclaimed, 20), "an unclaimed upload of two hours ago stayed"
            time.sleep(0.5)  # more sweeps
            assert recent.exists()  # younger than an hour
            assert in_chat.exists() and http.get(url).content == png("olive")  # the tab's chat
            assert example.exists()  # the page's own
