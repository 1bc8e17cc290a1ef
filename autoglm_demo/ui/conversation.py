"""The conversation as the page keeps it: one `Turn` per question and its answer.

The Chatbot is only a view of these turns (see `view.py`). Keeping the turns typed, rather
than reading them back out of rendered chat messages, means the request history never
contains reasoning blocks, metrics footers or error notes, and undo/regenerate are list
operations.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from PIL import Image

from autoglm_demo.ui.metrics import Metrics

MAX_IMAGE_SIDE = 1920  # larger screenshots add upload time but no detail the model uses


class Status(str, Enum):
    WAITING = "waiting"  # submitted, no answer requested yet
    STREAMING = "streaming"
    DONE = "done"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass
class Turn:
    text: str
    images: list[str] = field(default_factory=list)  # file paths, as Gradio uploaded them
    audio: str | None = None  # a recording or audio file; `text` holds its transcript once known
    reasoning: str = ""
    answer: str = ""
    status: Status = Status.WAITING
    error: str | None = None
    metrics: Metrics | None = None
    reasoning_seconds: float | None = None
    overlay: str | None = None  # the screenshot with the answer's actions drawn on it
    record_id: str | None = None  # the QA record of this answer, once recorded

    @property
    def in_context(self) -> bool:
        """Failed turns are left out of later requests, so one bad input (an audio clip the
        backend refuses) does not make every following turn fail too."""
        return bool(self.answer) and self.status in (Status.DONE, Status.STOPPED)

    def reset_answer(self) -> None:
        """Back to a question waiting for its answer (regenerate)."""
        self.reasoning = self.answer = ""
        self.status = Status.WAITING
        self.error = self.metrics = self.reasoning_seconds = self.overlay = self.record_id = None


def request_messages(turns: list[Turn], system_prompt: str) -> list[dict[str, Any]]:
    """OpenAI messages for answering the last turn: earlier answers without their reasoning
    (as GLM-4.1V-Thinking is prompted), then the last question."""
    messages: list[dict[str, Any]] = []
    if system_prompt.strip():
        messages.append({"role": "system", "content": system_prompt.strip()})
    *earlier, last = turns
    for turn in earlier:
        if turn.in_context:
            messages.append({"role": "user", "content": user_content(turn)})
            messages.append({"role": "assistant", "content": turn.answer})
    messages.append({"role": "user", "content": user_content(last)})
    return messages


def user_content(turn: Turn) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": image_data_uri(path)}} for path in turn.images
    ]
    if turn.audio and not turn.text.strip():
        # Not transcribed yet: the backend transcribes it and reports the text back. Once a
        # turn has text, that text (the transcript, perhaps edited) stands for the audio.
        parts.append({"type": "input_audio", "input_audio": audio_part(turn.audio)})
    if turn.text.strip():
        parts.append({"type": "text", "text": turn.text})
    return parts


def image_data_uri(path: str | Path, max_side: int = MAX_IMAGE_SIDE) -> str:
    """The image as a data: URI, downscaled so its longer side is at most `max_side`.

    Screenshots stay PNG (sharp text, flat colours); photos go as JPEG, which is far smaller.
    """
    with Image.open(path) as image:
        keep_png = image.format == "PNG"
        image = image.convert("RGB")
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if keep_png:
        image.save(buffer, format="PNG")
    else:
        image.save(buffer, format="JPEG", quality=90)
    mime = "image/png" if keep_png else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def audio_part(path: str | Path) -> dict[str, str]:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return {"data": data, "format": Path(path).suffix.lstrip(".").lower() or "wav"}
