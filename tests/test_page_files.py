"""No file reaches the page's events unless it was uploaded, and uploads end with the session.

A hostile client names server paths (/etc/passwd, /proc/self/environ, the QA database,
the app's source, a file in the temp folder) as the FileData of every file input of every
event the page has, now or later, and must get an error, never the file.
"""

from __future__ import annotations

import io
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from autoglm_demo.settings import Settings
from autoglm_demo.ui import app as ui_app
from autoglm_demo.ui import build_page_app
from autoglm_demo.ui.uploads import private_upload_dir
from tests.conftest import free_port, serve_app
from tests.gradio_protocol import Event, file_data, page_events, run_event, upload

# Component types whose value can name a file, and those whose value cannot. A new input
# type on the page must be added to one of them, with a hostile payload if it is the first.
FILE_INPUTS = {"audio", "image", "file", "video", "multimodaltextbox", "chatbot", "gallery"}
PLAIN_INPUTS = {
    "state", "textbox", "slider", "checkbox", "dropdown", "radio", "number", "button",
    "markdown", "dataset", "json", "html", "datetime", "checkboxgroup",
}


def png(colour: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (28, 28), colour).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = png("white")


@pytest.fixture(scope="module")
def qa_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("qa") / "qa.sqlite3"


@pytest.fixture(scope="module")
def page(qa_db: Path) -> Iterator[str]:
    """The page alone (its backend is not there) with its QA database in a known place."""
    port = free_port()
    settings = Settings(
        backend_url=f"http://127.0.0.1:{free_port()}/v1", port=port, qa_db=f"sqlite:///{qa_db}",
        log_level="warning",
    )
    with serve_app(build_page_app(settings), port=port, ready_path=None) as url:
        yield url


@pytest.fixture
def client(page: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=page, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A secret in the machine's temp folder, where Gradio lets events *return* files."""
    path = tmp_path_factory.mktemp("secret") / "secret.png"
    path.write_bytes(PNG + secrets.token_hex(16).encode())
    return path


@pytest.fixture(scope="module")
def targets(qa_db: Path, canary: Path, page: str) -> list[Path]:
    assert qa_db.exists()  # created when the page started
    return [
        Path("/etc/passwd"), Path("/proc/self/environ"), qa_db, Path(ui_app.__file__), canary
    ]


def hostile(component: dict[str, Any], path: Path) -> Any:
    """`component`'s value, naming `path` where a file goes (as a .png when it asks for images)."""
    payload = file_data(path, name=f"{path.name}.png")
    kind = component["type"]
    if kind == "multimodaltextbox":
        return {"text": "look", "files": [payload]}
    if kind in {"chatbot"}:
        return [{"role": "user", "content": [{"type": "file", "file": payload}]}]
    if kind == "gallery":
        return [{"image": payload, "caption": None}]
    if kind == "file" and component["props"].get("file_count") != "single":
        return [payload]
    return payload


def plain(component: dict[str, Any]) -> Any:
    """What the browser sends for an untouched component."""
    if component["type"] == "state":
        return None
    value = component["props"].get("value")
    return "" if value is None and component["type"] == "textbox" else value


def file_slots(events: list[Event]) -> list[tuple[Event, int]]:
    return [
        (event, index)
        for event in events
        for index, component in enumerate(event.inputs)
        if component["type"] in FILE_INPUTS
    ]


def test_every_input_type_is_known(client: httpx.Client) -> None:
    types = {component["type"] for event in page_events(client) for component in event.inputs}
    assert types <= FILE_INPUTS | PLAIN_INPUTS, f"unknown input types: {types - FILE_INPUTS - PLAIN_INPUTS}"
    assert {"audio", "multimodaltextbox"} <= types  # the probe covers the inputs it is about


def copies_in_upload_folder(path: Path) -> list[Path]:
    return [found for found in private_upload_dir().rglob(path.name) if found.is_file()]


def test_no_file_is_read_through_any_input_of_any_event(
    client: httpx.Client, targets: list[Path], canary: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    slots = file_slots(page_events(client))
    assert slots
    for event, slot in slots:
        for target in targets:
            data = [
                hostile(component, target) if index == slot else plain(component)
                for index, component in enumerate(event.inputs)
            ]
            outcome = run_event(client, event, data)
            where = f"event {event.fn_index}, input {slot} ({event.inputs[slot]['type']}), {target}"
            assert outcome.completed is not None, where
            assert outcome.completed["success"] is False, where
            # Refused by Gradio's path check (its reason, which names server folders, is
            # logged, not sent).
            assert outcome.completed["output"] == {"error": None}, where
            assert "InvalidPathError: Cannot move" in capfd.readouterr().err, where
            assert not copies_in_upload_folder(target), where
    assert canary.read_bytes()[len(PNG):].decode() not in outcome.transcript


def test_the_file_route_serves_no_path_outside_the_upload_folder(
    client: httpx.Client, targets: list[Path]
) -> None:
    for target in targets:
        response = client.get(f"/gradio_api/file={target}")
        assert response.status_code == 403, target
    package_file = Path(ui_app.__file__).parent / "screenshots.py"
    assert client.get(f"/gradio_api/file={package_file}").status_code == 403


def submit_event(client: httpx.Client) -> Event:
    [event] = [
        event for event in page_events(client)
        if event.trigger == "submit" and event.inputs[1]["type"] == "multimodaltextbox"
    ]
    return event


def send_screenshot(client: httpx.Client, path: str, session: str) -> str:
    """Ask about an uploaded screenshot; the URL the chat shows it at."""
    event = submit_event(client)
    data: list[Any] = [plain(component) for component in event.inputs]
    data[1] = {"text": "Where is Wi-Fi?", "files": [file_data(path)]}
    outcome = run_event(client, event, data, session)
    assert outcome.completed is not None and outcome.completed["success"], outcome.transcript
    [chat] = [value for value in outcome.completed["output"]["data"] if isinstance(value, list)]
    return chat[0]["content"][0]["file"]["url"]


def test_an_uploaded_screenshot_still_works(client: httpx.Client) -> None:
    content = png("teal")
    url = send_screenshot(client, upload(client, "screen.png", content), uuid.uuid4().hex[:11])
    assert "/gradio_api/file=" in url
    assert client.get(url).content == content


def test_the_shipped_example_still_works(client: httpx.Client) -> None:
    config = client.get("/config").json()
    [examples] = [c for c in config["components"] if c["type"] == "dataset"]
    sample = examples["props"]["samples"][0][0]
    [example_file] = sample["files"]
    assert client.get(example_file["url"]).status_code == 200
    url = send_screenshot(client, example_file["path"], uuid.uuid4().hex[:11])
    assert client.get(url).status_code == 200


def test_closing_the_tab_deletes_its_uploads_and_their_urls(client: httpx.Client) -> None:
    session = uuid.uuid4().hex[:11]
    with client.stream("GET", f"/gradio_api/heartbeat/{session}") as heartbeat:
        alive = heartbeat.iter_lines()  # kept: a dropped iterator would close the stream
        assert next(alive) == "data: ALIVE"  # the page is open
        path = upload(client, "screen.png", png("purple"))
        url = send_screenshot(client, path, session)
        assert client.get(url).status_code == 200
    deadline = time.monotonic() + 20
    while Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Path(path).exists()
    assert client.get(url).status_code == 403
