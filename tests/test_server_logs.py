"""What the server logs: never the API key, never the raw image or audio bytes."""

from __future__ import annotations

import base64
import io
import logging
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.conftest import app_for, serve_app

SECRET = "sk-demo-very-secret-key"


def test_logs_hold_no_secrets_and_no_raw_media(
    tiny_llama_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 48), "purple").save(buffer, format="PNG")
    image_b64 = base64.b64encode(buffer.getvalue()).decode()
    audio_b64 = base64.b64encode(b"RIFF....WAVEfmt not really audio").decode()
    caplog.set_level(logging.DEBUG)
    with serve_app(app_for(tiny_llama_dir, api_key=SECRET, log_level="debug")) as base:
        headers = {"Authorization": f"Bearer {SECRET}"}
        image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image_b64}"}}
        audio = {"type": "input_audio", "input_audio": {"data": audio_b64, "format": "wav"}}
        for content in ([image, {"type": "text", "text": "hi"}], [audio]):
            httpx.post(
                f"{base}/v1/chat/completions",
                headers=headers,
                json={
                    "model": "autoglm-phone-9b",
                    "max_tokens": 2,
                    "messages": [{"role": "user", "content": content}],
                },
                timeout=60,
            )
        httpx.post(
            f"{base}/v1/chat/completions", headers={"Authorization": "Bearer wrong"}, json={}
        )
    logged = caplog.text
    assert logged, "the server should have logged something at debug level"
    assert SECRET not in logged
    assert image_b64[:40] not in logged and audio_b64[:24] not in logged


@pytest.mark.parametrize(("level", "shown"), [("info", False), ("debug", True)])
def test_opening_the_qa_store_says_nothing_on_the_console_below_debug(
    tmp_path: Path, level: str, shown: bool
) -> None:
    code = (
        "from autoglm_demo.main import configure_logging\n"
        f"configure_logging({level!r})\n"
        "from autoglm_demo.qa.store import QaStore\n"
        f"QaStore('sqlite:///{tmp_path / 'qa.sqlite3'}')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert ("alembic" in result.stderr) is shown, result.stderr
