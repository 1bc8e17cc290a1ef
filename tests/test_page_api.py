"""The page as an API: gradio_client and an MCP client against real servers on loopback.

One page serves the tagged model (it thinks, then taps) with --mcp; two more pages answer
through its /v1, so only one model loads: one behind --page-auth, and `python app.py`
itself behind --api-key. Every UI event is private: `view_api()` lists exactly the public
endpoints.
"""

from __future__ import annotations

import asyncio
import base64
import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from PIL import Image

from autoglm_demo.main import build_page_app
from autoglm_demo.server.deadlines import SHUTDOWN_GRACE_S
from autoglm_demo.settings import Settings
from autoglm_demo.ui.api import keep_only_public, public
from autoglm_demo.ui.chat_tab import EXAMPLE_SCREENSHOT
from tests.conftest import TAGGED_REPLY, free_port, page_settings, serve_app
from tests.gradio_protocol import Event, page_events, run_event
from tests.speech_audio import speak, word_errors
from tests.test_page_api_guard import basic
from tests.test_page_files import hostile, plain

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = {"/chat", "/transcribe"}
CHAT_PARAMETERS = [
    "message", "images", "audio", "model", "thinking", "temperature", "top_p", "max_tokens",
    "system_prompt", "agent", "current_app", "history",
]
ANSWER = TAGGED_REPLY.split("<answer>")[1].split("</answer>")[0]
REASONING = TAGGED_REPLY.split("<think>")[1].split("</think>")[0]
KEY = "page-api-key-5c1e"
LOGIN = ("demo", "pass:word")
# gradio_client keeps a heartbeat stream open to each server it used, which a stopping
# server waits for; the product's own bound.
STOP_SOON = {"timeout_graceful_shutdown": SHUTDOWN_GRACE_S}


@contextmanager
def tagged_page(model: Path, cache_dir: Path) -> Iterator[str]:
    """A page serving `model` (the tagged one) with --mcp, on loopback."""
    port = free_port()
    settings = page_settings(model, port, cache_dir=cache_dir, mcp=True)
    with serve_app(build_page_app(settings), port=port, **STOP_SOON) as base:
        yield base


@pytest.fixture(scope="module")
def page(tagged_model_dir: Path, offline_cache_dir: Path) -> Iterator[str]:
    with tagged_page(tagged_model_dir, offline_cache_dir) as base:
        yield base


def page_in_front_of(backend: str, **guard: Any) -> Any:
    """A page with `guard` (page_auth, api_key) answering through `backend`'s /v1."""
    port = free_port()
    settings = Settings(
        backend_url=backend + "/v1", port=port, log_level="warning", mcp=True, **guard
    )
    return serve_app(build_page_app(settings), port=port, ready_path=None, **STOP_SOON)


@pytest.fixture(scope="module")
def login_page(page: str) -> Iterator[str]:
    with page_in_front_of(page, page_auth=":".join(LOGIN)) as url:
        yield url


@pytest.fixture(scope="module")
def key_page(page: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python app.py --mcp --api-key KEY` itself, in front of `page`'s /v1."""
    port = free_port()
    log = tmp_path_factory.mktemp("app") / "app.log"
    command = [sys.executable, "app.py", "--backend-url", page + "/v1", "--port", str(port),
               "--mcp", "--api-key", KEY, "--log-level", "warning"]
    env = {name: value for name, value in os.environ.items() if not name.startswith("AUTOGLM_")}
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while not _answers(url + "/config"):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "python app.py did not start in 180 s"
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def served_variant(page: str) -> str:
    """The default variant's explicit name (`…-full`, `…-int8`), as /v1/models lists it."""
    cards = httpx.get(page + "/v1/models").json()["data"]
    [default] = {card["precision"] for card in cards if card["default"]}
    return next(card["id"] for card in cards if card["id"].endswith("-" + default))


# view_api: exactly the public endpoints.


def test_view_api_lists_only_the_public_endpoints_with_described_parameters(page: str) -> None:
    info = Client(page, verbose=False).view_api(return_format="dict", print_info=False)
    assert set(info["named_endpoints"]) == PUBLIC, "an unexpected public endpoint appeared"
    assert not info["unnamed_endpoints"]
    chat = info["named_endpoints"]["/chat"]
    assert [p["parameter_name"] for p in chat["parameters"]] == CHAT_PARAMETERS
    for parameter in chat["parameters"]:
        assert parameter["python_type"]["description"], parameter["parameter_name"]
    model = next(p for p in chat["parameters"] if p["parameter_name"] == "model")
    assert model["python_type"]["type"] == "str" and model["parameter_default"] == ""
    assert [r["label"] for r in chat["returns"]] == [
        "Answer", "Reasoning", "Action", "Overlay", "Metrics"
    ]
    [audio] = info["named_endpoints"]["/transcribe"]["parameters"]
    assert audio["parameter_name"] == "audio" and audio["python_type"]["description"]


def test_events_are_private_unless_registered_public() -> None:
    """Default-deny: events declared public, named or not, stay private unless `@public`."""

    @public
    def shown(text: str) -> str:
        return text

    def ui_only(text: str) -> str:
        return text

    with gr.Blocks() as demo:
        box = gr.Textbox()
        box.submit(ui_only, box, box, api_name="ui_only", api_visibility="public")
        box.change(lambda text: text, box, box)
        gr.on([], shown, box, box, api_name="shown")
    keep_only_public(demo)
    assert set(demo.get_api_info()["named_endpoints"]) == {"/shown"}


def test_every_ui_event_is_private(page: str) -> None:
    config = httpx.get(page + "/config").json()
    visible = {
        dependency["api_name"]
        for dependency in config["dependencies"]
        if dependency["api_visibility"] != "private"
    }
    assert visible == {name.lstrip("/") for name in PUBLIC}
    assert len(config["dependencies"]) > 20  # the page's own events are all still there


# chat


def test_chat_with_a_screenshot_by_model_name(page: str) -> None:
    model = served_variant(page)
    client = Client(page, verbose=False)
    answer, reasoning, action, overlay, metrics = client.predict(
        message="Where is the search box?",
        images=[handle_file(str(EXAMPLE_SCREENSHOT))],
        model=model,
        temperature=0,
        api_name="/chat",
    )
    assert answer == ANSWER
    assert reasoning == REASONING
    assert action == {
        "kind": "valid", "reason": "",
        "action": {"name": "Tap", "point": [500, 100], "end": None, "text": None, "extras": {}},
    }
    with Image.open(overlay) as drawn, Image.open(EXAMPLE_SCREENSHOT) as original:
        assert drawn.size == original.size
        assert drawn.convert("RGB").tobytes() != original.convert("RGB").tobytes()
    assert metrics["model"] == model and metrics["completion_tokens"] > 0
    assert metrics["ttft_s"] > 0


def test_chat_streams_growing_updates(page: str) -> None:
    job = Client(page, verbose=False).submit(
        message="Where is the search box?", temperature=0, api_name="/chat"
    )
    updates = [tuple(update) for update in job]
    final = job.result()
    assert final[0] == ANSWER
    assert len(updates) > 2, "nothing streamed"
    for answer, reasoning, *_ in updates:
        assert final[0].startswith(answer) and final[1].startswith(reasoning)
    growing = [answer + reasoning for answer, reasoning, *_ in updates]
    assert any(len(a) < len(b) for a, b in zip(growing, growing[1:], strict=False))
    assert updates[-1][2] is not None and all(u[2] is None for u in updates[:-1] if u[0] != ANSWER)


def test_chat_keeps_the_history_it_is_given(page: str) -> None:
    history = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi."}]
    client = Client(page, verbose=False)
    answer, *_ = client.predict(message="Again", history=history, api_name="/chat")
    assert answer == ANSWER
    with pytest.raises(AppError, match="must alternate"):
        client.predict(message="x", history=[{"role": "assistant", "content": "?"}],
                       api_name="/chat")


def test_an_unknown_model_is_a_clear_error(page: str) -> None:
    with pytest.raises(AppError) as refused:
        Client(page, verbose=False).predict(message="hi", model="gpt-4o", api_name="/chat")
    message = str(refused.value)
    assert "Unknown model 'gpt-4o'" in message and served_variant(page) in message


@pytest.fixture
def image_host() -> Iterator[tuple[str, list[str]]]:
    """An image server on loopback that records every request it gets."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            body = EXAMPLE_SCREENSHOT.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()


def test_an_image_url_goes_to_the_backend_under_its_rules(
    page: str, image_host: tuple[str, list[str]]
) -> None:
    """The page passes the URL on; the backend's allow-list (empty here) refuses it, and
    nobody fetched it."""
    host, requests = image_host
    with pytest.raises(AppError, match="does not fetch"):
        Client(page, verbose=False).predict(
            message="What is on screen?", images=[handle_file(host + "/screen.png")],
            api_name="/chat",
        )
    assert requests == []


def test_a_spoken_question_is_transcribed_and_answered(
    page: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    sentence = "Open the Wi-Fi settings on this phone."
    clip = speak(sentence, tmp_path_factory.mktemp("audio") / "question.wav")
    client = Client(page, verbose=False)
    heard = client.predict(handle_file(str(clip)), api_name="/transcribe")
    assert word_errors(sentence, heard) <= 2, heard
    answer, *_ = client.predict(audio=handle_file(str(clip)), api_name="/chat")
    assert answer == ANSWER


def test_transcription_takes_no_url(page: str, image_host: tuple[str, list[str]]) -> None:
    host, requests = image_host
    with pytest.raises(AppError, match="not a URL"):
        Client(page, verbose=False).predict(
            handle_file(host + "/speech.wav"), api_name="/transcribe"
        )
    assert requests == []


def test_file_inputs_take_no_server_path(page: str) -> None:
    """test_page_files probes every event; here, that it reaches the public endpoints'."""
    with httpx.Client(base_url=page, timeout=60) as client:
        for name in ("chat", "transcribe"):
            event = endpoint_event(client, name)
            slots = [i for i, c in enumerate(event.inputs) if c["type"] == "file"]
            assert slots, name
            for slot in slots:
                data = [plain(component) for component in event.inputs]
                data[slot] = hostile(event.inputs[slot], Path("/etc/passwd"))
                outcome = run_event(client, event, data)
                assert outcome.completed is not None, (name, slot)
                assert outcome.completed["success"] is False, (name, slot)
                # Gradio's path check refused it (its reason is logged, not sent).
                assert outcome.completed["output"] == {"error": None}, (name, slot)
                assert "root:" not in outcome.transcript


# MCP


def endpoint_event(client: httpx.Client, api_name: str) -> Event:
    """A public endpoint as the page's config lists it (callable by index, as any event)."""
    config = client.get("/config").json()
    [index] = [d["id"] for d in config["dependencies"] if d["api_name"] == api_name]
    return next(event for event in page_events(client) if event.fn_index == index)


def screenshot_uri() -> str:
    return "data:image/png;base64," + base64.b64encode(EXAMPLE_SCREENSHOT.read_bytes()).decode()


async def mcp_chat(url: str, headers: dict[str, str] | None = None) -> tuple[set[str], Any]:
    """The MCP server's tool names, and a chat tool call's result."""
    http = create_mcp_http_client(headers=headers)
    async with http, streamable_http_client(url + "/gradio_api/mcp/", http_client=http) as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            tools = {tool.name for tool in (await session.list_tools()).tools}
            result = await session.call_tool(
                "chat",
                {"message": "Where is the search box?", "images": [screenshot_uri()],
                 "temperature": 0},
            )
            return tools, result


def assert_answered(result: Any) -> None:
    assert not result.isError, result.content
    texts = [part.text for part in result.content if part.type == "text"]
    assert ANSWER in texts and REASONING in texts
    assert any("'Tap'" in text and "'valid'" in text for text in texts)  # the action
    assert any(part.type == "image" for part in result.content)  # the overlay


def test_mcp_lists_the_tools_and_calls_chat(page: str) -> None:
    tools, result = asyncio.run(mcp_chat(page))
    assert tools == {"chat", "transcribe"}
    assert_answered(result)


# Access: the login and the key cover the API and MCP.




MCP_INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "probe", "version": "0"}},
}


def mcp_status(url: str, headers: dict[str, str]) -> int:
    headers = {**headers, "Accept": "application/json, text/event-stream"}
    return httpx.post(url + "/gradio_api/mcp/", json=MCP_INITIALIZE, headers=headers).status_code


def test_the_page_login_covers_the_api_and_mcp(login_page: str) -> None:
    with pytest.raises(Exception, match="401|[Ll]ogin"):
        Client(login_page, verbose=False)
    joined = httpx.post(
        login_page + "/gradio_api/queue/join",
        json={"data": [], "fn_index": 0, "session_hash": "probe1234"},
    )
    assert joined.status_code == 401
    assert httpx.get(login_page + "/gradio_api/info").status_code == 401
    for headers in ({}, basic("demo", "pass"), {"Authorization": f"Bearer {KEY}"}):
        assert mcp_status(login_page, headers) == 401, headers
    refused = httpx.get(login_page + "/gradio_api/mcp/schema")
    assert refused.json()["error"]["code"] == "invalid_login"
    assert refused.headers["www-authenticate"].startswith("Basic")

    client = Client(login_page, auth=LOGIN, verbose=False)
    assert set(client.view_api(return_format="dict", print_info=False)["named_endpoints"]) == PUBLIC
    answer, *_ = client.predict(message="Where is the search box?", api_name="/chat")
    assert answer == ANSWER
    tools, result = asyncio.run(mcp_chat(login_page, basic(*LOGIN)))
    assert tools == {"chat", "transcribe"}
    assert_answered(result)


def test_the_api_key_covers_the_api_and_mcp(key_page: str) -> None:
    info = httpx.get(key_page + "/gradio_api/info")
    assert info.status_code == 401 and info.json()["error"]["code"] == "invalid_api_key"
    with pytest.raises(Exception, match="incorrect API key"):
        Client(key_page, verbose=False)
    for headers in ({}, {"Authorization": "Bearer wrong"}, basic("demo", KEY)):
        assert mcp_status(key_page, headers) == 401, headers
    # Called by index, as the browser calls events, the endpoint still wants the key.
    with httpx.Client(base_url=key_page, timeout=60) as client:
        event = endpoint_event(client, "chat")
        data = [plain(component) for component in event.inputs]
        data[0] = "Where is the search box?"
        outcome = run_event(client, event, data)
    assert outcome.completed is not None and outcome.completed["success"] is False
    assert "Missing or incorrect API key" in outcome.transcript

    keyed = {"Authorization": f"Bearer {KEY}"}
    client = Client(key_page, headers=keyed, verbose=False)
    answer, *_ = client.predict(message="Where is the search box?", api_name="/chat")
    assert answer == ANSWER
    tools, result = asyncio.run(mcp_chat(key_page, keyed))
    assert tools == {"chat", "transcribe"}
    assert_answered(result)
