"""The page's event stream lingers: an event that joins just after the session's last one
completed still reaches the client on the stream it thinks is open (a real Gradio app on
loopback, driven through Gradio's own queue protocol)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gradio as gr
import httpx
import pytest
from fastapi import FastAPI

from autoglm_demo.ui.event_stream import event_stream_middleware, is_close_stream
from tests.conftest import serve_app

LINGER_S = 1.0


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with gr.Blocks() as demo:
        text = gr.Textbox()
        shout = gr.Textbox()
        gr.Button().click(str.upper, text, shout)
    middleware = [event_stream_middleware(demo, LINGER_S)]
    app = gr.mount_gradio_app(FastAPI(), demo, path="/", app_kwargs={"middleware": middleware})
    with serve_app(app, ready_path="/config") as url:
        yield url


def join(client: httpx.Client, session: str, text: str) -> str:
    body = {"data": [text], "fn_index": 0, "session_hash": session, "event_data": None}
    response = client.post("/gradio_api/queue/join", json=body)
    response.raise_for_status()
    return response.json()["event_id"]


@contextmanager
def event_stream(client: httpx.Client, session: str) -> Iterator[Iterator[dict[str, Any]]]:
    """The session's stream of event messages, as Gradio's browser client opens it."""
    params = {"session_hash": session}
    with client.stream("GET", "/gradio_api/queue/data", params=params) as response:
        yield (
            json.loads(line.removeprefix("data:"))
            for line in response.iter_lines()
            if line.startswith("data:")
        )


def completed(stream: Iterator[dict[str, Any]], event_id: str) -> dict[str, Any]:
    """Messages up to `event_id`'s completion, which must come before any close_stream."""
    for message in stream:
        assert message["msg"] != "close_stream", "the stream closed with an event pending"
        if message["msg"] == "process_completed" and message["event_id"] == event_id:
            return message
    raise AssertionError("the stream ended before the event completed")


def test_an_event_joined_after_the_last_completed_arrives_on_the_same_stream(base: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        first = join(client, "lingering1", "first")
        with event_stream(client, "lingering1") as stream:
            assert completed(stream, first)["output"]["data"] == ["FIRST"]
            # Gradio's handler has now decided to close; the client has not seen it yet.
            second = join(client, "lingering1", "second")
            assert completed(stream, second)["output"]["data"] == ["SECOND"]
            assert next(stream)["msg"] == "close_stream"
            assert next(stream, None) is None  # and the response ends


def test_with_no_further_event_the_stream_closes_after_lingering(base: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        event = join(client, "lingering2", "only")
        with event_stream(client, "lingering2") as stream:
            completed(stream, event)
            done = time.monotonic()
            assert next(stream)["msg"] == "close_stream"
            waited = time.monotonic() - done
            assert next(stream, None) is None
    assert waited >= LINGER_S - 0.2  # held back, not sent at once
    # A new event after the close gets a new stream, as Gradio's client opens one.
    with httpx.Client(base_url=base, timeout=30) as client:
        event = join(client, "lingering2", "again")
        with event_stream(client, "lingering2") as stream:
            assert completed(stream, event)["output"]["data"] == ["AGAIN"]


def test_only_a_close_stream_event_is_recognised() -> None:
    assert is_close_stream(b'data: {"msg":"close_stream","event_id":null}\n\n')
    assert not is_close_stream(b'data: {"msg":"process_completed","event_id":"x"}\n\n')
    assert not is_close_stream(b'data: "close_stream"\n\n')
    assert not is_close_stream(b"data: {not json\n\n")
    assert not is_close_stream(b": heartbeat\n\n")
