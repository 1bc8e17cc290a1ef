"""An API call's files are deleted once it ends; a tab's files and the page's stay.

A real page on loopback serves the tagged model (it thinks, then taps) with --mcp; calls
come through gradio_client, MCP and the queue spoken by hand, a tab through the browser's
protocol. Each screenshot is new to the server (a colour and size of its own), so its
path and bytes can be looked for in the upload folder afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import io
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import Status
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from PIL import Image

from autoglm_demo.ui import call_files
from autoglm_demo.ui.chat_tab import EXAMPLE_SCREENSHOT
from autoglm_demo.ui.uploads import private_upload_dir
from tests.gradio_protocol import file_data, run_event, upload
from tests.speech_audio import speak
from tests.test_page_api import ANSWER, endpoint_event, tagged_page
from tests.test_page_files import plain, send_screenshot

pytestmark = pytest.mark.slow

LONG_QUESTION = "Open the Wi-Fi settings on this phone, find the home network and connect to it."


@pytest.fixture(scope="module")
def page(tagged_model_dir: Path, offline_cache_dir: Path) -> Iterator[str]:
    with tagged_page(tagged_model_dir, offline_cache_dir) as base:
        yield base


def new_screenshot() -> tuple[bytes, tuple[int, int], tuple[int, int, int]]:
    """A PNG the server has never seen: its bytes, size and colour."""
    size = (200 + random.randrange(200), 400 + random.randrange(200))
    colour = (random.randrange(256), random.randrange(256), random.randrange(256))
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue(), size, colour


def saved(content: bytes, folder: Path, name: str = "screen.png") -> Path:
    path = folder / f"{uuid.uuid4().hex[:8]}-{name}"
    path.write_bytes(content)
    return path


def upload_folder_files() -> set[Path]:
    """Every file in the upload folder but the API calls' overlays, which live on a while."""
    overlays = private_upload_dir() / "api-overlays"
    return {
        path for path in private_upload_dir().rglob("*")
        if path.is_file() and not path.is_relative_to(overlays)
    }


def copies_of(content: bytes, folder: Path) -> list[Path]:
    """The files in `folder` with these bytes (the size is compared first: folders shared
    with other programs may be large)."""
    same_size = (p for p in folder.rglob("*") if p.is_file() and p.stat().st_size == len(content))
    return [path for path in same_size if path.read_bytes() == content]


def drawn_on(overlay: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> bool:
    """Whether `overlay` was drawn on the screenshot of that size and colour."""
    with Image.open(overlay) as drawn:
        return drawn.size == size and drawn.convert("RGB").getpixel((size[0] - 1, 0)) == colour


def overlay_path(output: Any) -> Path:
    """The server's path of a returned file (gradio_client without downloads)."""
    return Path(output["path"] if isinstance(output, dict) else output)


# Answered.


def test_an_answered_call_leaves_none_of_its_files(page: str, tmp_path: Path) -> None:
    before = upload_folder_files()
    content, size, colour = new_screenshot()
    client = Client(page, verbose=False, download_files=False)
    answer, _, _, overlay, _ = client.predict(
        message="Where is the search box?",
        images=[handle_file(str(saved(content, tmp_path)))],
        api_name="/chat",
    )
    assert answer == ANSWER
    assert drawn_on(overlay_path(overlay), size, colour)  # the upload was read
    assert upload_folder_files() == before  # no upload, no empty temporary file
    assert not copies_of(content, private_upload_dir())


def test_a_transcription_leaves_no_recording(page: str, tmp_path: Path) -> None:
    before = upload_folder_files()
    clip = speak("Open the settings.", tmp_path / "question.wav")
    heard = Client(page, verbose=False).predict(handle_file(str(clip)), api_name="/transcribe")
    assert "settings" in heard.lower()
    assert upload_folder_files() == before
    assert not copies_of(clip.read_bytes(), private_upload_dir())


def test_the_returned_overlay_lives_its_lifetime(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_files, "OVERLAY_LIFETIME_S", 2.0)
    content, size, colour = new_screenshot()
    client = Client(page, verbose=False, download_files=False)
    *_, overlay, _ = client.predict(
        message="Where?", images=[handle_file(str(saved(content, tmp_path)))], api_name="/chat"
    )
    path = overlay_path(overlay)
    assert path.is_relative_to(private_upload_dir() / "api-overlays")
    assert httpx.get(overlay["url"]).status_code == 200  # the caller can fetch it
    deadline = time.monotonic() + 30
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not path.exists()
    assert httpx.get(overlay["url"]).status_code in (403, 404)


# Failed.


def test_a_failed_call_leaves_none_of_its_files(page: str, tmp_path: Path) -> None:
    """Failed in the endpoint, or refused while its inputs were read: nothing stays, and
    the page keeps answering."""
    before = upload_folder_files()
    content, size, colour = new_screenshot()
    image = saved(content, tmp_path)
    client = Client(page, verbose=False, download_files=False)
    failing: list[tuple[str, dict[str, Any]]] = [
        ("Unknown model", {"model": "gpt-4o"}),  # the endpoint refuses it
        ("maximum", {"temperature": 5}),  # Gradio refuses the slider, after the images
        ("not a URL", {"audio": handle_file("http://127.0.0.1:9/speech.wav")}),
    ]
    for error, arguments in failing:
        with pytest.raises(AppError, match=error):
            client.predict(
                message="Where?", images=[handle_file(str(image))], api_name="/chat", **arguments
            )
        assert upload_folder_files() == before, error
    assert not copies_of(content, private_upload_dir())
    answer, *_, overlay, _ = client.predict(
        message="Where?", images=[handle_file(str(image))], api_name="/chat"
    )
    assert answer == ANSWER and drawn_on(overlay_path(overlay), size, colour)
    assert upload_folder_files() == before


def test_a_call_spoken_by_hand_leaves_its_upload_too(page: str) -> None:
    """Uploaded as any HTTP client can, then named in a call by index that fails."""
    content, _, _ = new_screenshot()
    with httpx.Client(base_url=page, timeout=60) as http:
        path = Path(upload(http, "by-hand.png", content))
        assert path.exists()
        event = endpoint_event(http, "chat")
        data = [plain(component) for component in event.inputs]
        data[0], data[3] = "Where?", "no-such-model"
        data[1] = [file_data(path)]
        outcome = run_event(http, event, data)
    assert outcome.completed is not None and outcome.completed["success"] is False
    assert "Unknown model" in outcome.transcript
    assert not path.exists() and not path.parent.exists()


# Cancelled.


def wait_for(job: Any, codes: set[Status], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while job.status().code not in codes:
        assert not job.done(), f"finished before {codes}"
        assert time.monotonic() < deadline, f"not {codes} in {seconds} s"
        time.sleep(0.02)


def test_cancelled_calls_leave_none_of_their_files(page: str, tmp_path: Path) -> None:
    """One call cancelled while it waits in the queue (it never runs: the endpoint never
    sees its files), one while it runs."""
    before = upload_folder_files()
    # A long question: its transcription keeps the call running a few seconds.
    clip = speak(" ".join([LONG_QUESTION] * 4), tmp_path / "question.wav")
    content, _, _ = new_screenshot()
    running = Client(page, verbose=False).submit(audio=handle_file(str(clip)), api_name="/chat")
    wait_for(running, {Status.PROCESSING, Status.ITERATING})
    waiting = Client(page, verbose=False).submit(
        message="Where?", images=[handle_file(str(saved(content, tmp_path)))], api_name="/chat"
    )
    wait_for(waiting, {Status.IN_QUEUE})  # chat runs one call at a time
    assert waiting.cancel()
    assert running.cancel()
    deadline = time.monotonic() + 60
    while upload_folder_files() != before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert upload_folder_files() == before
    assert not copies_of(content, private_upload_dir())
    answer, *_ = Client(page, verbose=False).predict(message="Where?", api_name="/chat")
    assert answer == ANSWER  # and the page goes on answering


# What the page and its tabs hold.


def test_a_tabs_upload_and_the_pages_example_stay(page: str, tmp_path: Path) -> None:
    """The tab sends the same bytes under the same name as the call: one path (Gradio names
    uploads by content). The call ends; the tab's screenshot stays until the tab closes."""
    content, _, _ = new_screenshot()
    with httpx.Client(base_url=page, timeout=120) as http:
        [examples] = [c for c in http.get("/config").json()["components"] if c["type"] == "dataset"]
        example = Path(examples["props"]["samples"][0][0]["files"][0]["path"])
        session = uuid.uuid4().hex[:11]
        with http.stream("GET", f"/gradio_api/heartbeat/{session}") as heartbeat:
            alive = heartbeat.iter_lines()  # kept: a dropped iterator would close the stream
            assert next(alive) == "data: ALIVE"
            tabs = Path(upload(http, "shared.png", content))
            url = send_screenshot(http, str(tabs), session)

            shared = tmp_path / "shared.png"
            shared.write_bytes(content)
            client = Client(page, verbose=False, download_files=False)
            for image in (shared, EXAMPLE_SCREENSHOT):
                answer, *_ = client.predict(
                    message="Where?", images=[handle_file(str(image))], api_name="/chat"
                )
                assert answer == ANSWER
            assert tabs.exists() and http.get(url).content == content
            assert example.exists()
            assert http.get(f"/gradio_api/file={example}").status_code == 200
        deadline = time.monotonic() + 20
        while tabs.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not tabs.exists()  # the tab's own rule still deletes it when it closes
        assert example.exists()


# MCP.


def test_an_mcp_data_uri_is_deleted_after_the_call(page: str) -> None:
    """Gradio's MCP server would write it into the machine-wide temp folder for good."""
    content, size, colour = new_screenshot()
    before = upload_folder_files()
    uri = "data:image/png;base64," + base64.b64encode(content).decode()
    result = asyncio.run(mcp_call(page, {"message": "Where?", "images": [uri]}))
    assert not result.isError, result.content
    assert any(part.type == "image" for part in result.content)  # the overlay, inline
    overlay = next(part for part in result.content if part.type == "image")
    with Image.open(io.BytesIO(base64.b64decode(overlay.data))) as drawn:
        assert drawn.size == size
    assert upload_folder_files() == before
    assert not list(private_upload_dir().glob("mcp-call-*"))
    assert not copies_of(content, private_upload_dir())
    assert not copies_of(content, Path(tempfile.gettempdir()) / "gradio")


async def mcp_call(url: str, arguments: dict[str, Any]) -> Any:
    async with streamable_http_client(url + "/gradio_api/mcp/") as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            return await session.call_tool("chat", arguments)
