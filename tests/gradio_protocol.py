"""Gradio's HTTP protocol spoken by hand, as a hostile client would: any payload, any event.

gradio_client uploads whatever local file it is given before it calls an event; a probe
has to send FileData that names a server path directly, so it talks to the queue itself.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


@dataclass(frozen=True)
class Event:
    fn_index: int
    trigger_id: int | None
    trigger: str | None  # "submit", "click", "load"...
    inputs: tuple[dict[str, Any], ...]  # the input components' config entries, in order


def page_events(client: httpx.Client) -> list[Event]:
    """Every event of the page that runs Python, with its input components."""
    config = client.get("/config").json()
    components = {component["id"]: component for component in config["components"]}
    return [
        Event(
            dependency["id"],
            dependency["targets"][0][0] if dependency["targets"] else None,
            dependency["targets"][0][1] if dependency["targets"] else None,
            tuple(components[input_id] for input_id in dependency["inputs"]),
        )
        for dependency in config["dependencies"]
        if dependency["backend_fn"]
    ]


def file_data(path: str | Path, name: str | None = None) -> dict[str, Any]:
    """A FileData as the browser sends it after an upload, here naming any path at all."""
    return {
        "path": str(path),
        "orig_name": name or Path(path).name,
        "meta": {"_type": "gradio.FileData"},
    }


def upload(client: httpx.Client, name: str, content: bytes) -> str:
    """Upload as the browser does; the server path that events may then name."""
    response = client.post("/gradio_api/upload", files={"files": (name, content)})
    assert response.status_code == 200, response.text
    return response.json()[0]


@dataclass
class Outcome:
    completed: dict[str, Any] | None  # the process_completed message, if the event ran
    transcript: str  # everything the server sent about the event, to search for leaks


def run_event(client: httpx.Client, event: Event, data: list[Any], session: str = "") -> Outcome:
    """Join the queue with `data`, and read the event's messages until it completes."""
    session = session or uuid.uuid4().hex[:11]
    body = {
        "data": data, "fn_index": event.fn_index, "trigger_id": event.trigger_id,
        "session_hash": session, "event_data": None,
    }
    joined = client.post("/gradio_api/queue/join", json=body)
    if joined.status_code != 200:
        return Outcome(None, joined.text)
    event_id = joined.json()["event_id"]
    transcript: list[str] = []
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as sse:
        for line in sse.iter_lines():
            if not line.startswith("data:"):
                continue
            transcript.append(line)
            message = json.loads(line[5:])
            if message.get("event_id") == event_id and message["msg"] == "process_completed":
                return Outcome(message, "\n".join(transcript))
    return Outcome(None, "\n".join(transcript))
