"""A conversation: one `Turn` per question and its answer, with what was measured.

The page's Chatbot is only a view of these turns (see `ui/view.py`), and QA replay answers
the same turns. Keeping them typed, rather than reading them back out of rendered chat
messages, means the request history never contains reasoning blocks, metrics footers or
error notes, and undo/regenerate are list operations.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from PIL import Image

from autoglm_demo import phone_agent

MAX_IMAGE_SIDE = 1920  # larger screenshots add upload time but no detail the model uses


@dataclass(frozen=True)
class Metrics:
    """Per-answer measurements: time to first token, decode speed, token counts, who answered.

    Measured on the asking side of the HTTP stream, so the numbers are what a person waiting
    for the answer experiences, whichever backend answers."""

    model: str
    precision: str | None
    ttft_s: float | None
    tokens_per_s: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    weight_bytes: int | None = None
    """The answering variant's weights in memory, as the backend reports them."""


class TurnStatus(str, Enum):
    WAITING = "waiting"  # submitted, no answer requested yet
    STREAMING = "streaming"
    DONE = "done"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass
class Turn:
    text: str
    images: list[str] = field(default_factory=list)  # file paths as uploaded, or http(s) URLs
    audio: str | None = None  # a recording or audio file; `text` holds its transcript once known
    reasoning: str = ""
    answer: str = ""
    status: TurnStatus = TurnStatus.WAITING
    error: str | None = None
    metrics: Metrics | None = None
    reasoning_seconds: float | None = None
    overlay: str | None = None  # the screenshot with the answer's actions drawn on it
    record_id: str | None = None  # the QA record of this answer, once recorded
    current_app: str | None = None  # agent mode: the app on screen, for the screen-info line
    # The images as data: URIs, with the paths they were encoded from. Every later request
    # sends this turn again; encoding a screenshot once, not once per request, keeps a long
    # conversation from re-reading and re-compressing every earlier image.
    _encoded: tuple[tuple[str, ...], tuple[str, ...]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def in_context(self) -> bool:
        """Failed turns are left out of later requests, so one bad input (an audio clip the
        backend refuses) does not make every following turn fail too."""
        return bool(self.answer) and self.status in (TurnStatus.DONE, TurnStatus.STOPPED)

    def reset_answer(self) -> None:
        """Back to a question waiting for its answer (regenerate)."""
        self.reasoning = self.answer = ""
        self.status = TurnStatus.WAITING
        self.error = self.metrics = self.reasoning_seconds = self.overlay = self.record_id = None

    def image_uris(self) -> tuple[str, ...]:
        """The turn's images as data: URIs, encoded on first use (and again only if the
        list of images changed)."""
        paths = tuple(self.images)
        if self._encoded is None or self._encoded[0] != paths:
            self._encoded = (paths, tuple(_image_url(path) for path in paths))
        return self._encoded[1]


def request_messages(
    turns: list[Turn], system_prompt: str, *, agent: bool = False
) -> list[dict[str, Any]]:
    """OpenAI messages for answering the last turn.

    Free chat: earlier answers without their reasoning (as GLM-4.1V-Thinking is prompted),
    every image kept. Agent mode (`phone_agent`): earlier answers with their reasoning in
    tags, the screen-info line on each question, and only the latest screenshot."""
    messages: list[dict[str, Any]] = []
    if system_prompt.strip():
        messages.append({"role": "system", "content": system_prompt.strip()})
    *earlier, last = turns
    sent = [turn for turn in earlier if turn.in_context] + [last]
    for index, turn in enumerate(sent):
        text = None
        if agent:
            text = phone_agent.user_text(turn.text, turn.current_app, first=index == 0)
        messages.append({"role": "user", "content": user_content(turn, text)})
        if turn is not last:
            answer = turn.answer
            if agent:
                answer = phone_agent.assistant_text(turn.reasoning, turn.answer)
            messages.append({"role": "assistant", "content": answer})
    return phone_agent.only_last_screenshot(messages) if agent else messages


def sample_messages(turns: list[Turn], system_prompt: str, *, agent: bool = False) -> str:
    """The request that answered the last turn, as the `sample_messages` JSON file that
    Open-AutoGLM's scripts/check_deployment_*.py send to a deployment (images inline)."""
    messages = request_messages(turns, system_prompt, agent=agent)
    return json.dumps(messages, ensure_ascii=False, indent=2)


def user_content(turn: Turn, text: str | None = None) -> list[dict[str, Any]]:
    """The turn's question as content parts; `text` replaces its text (agent mode)."""
    text = turn.text if text is None else text
    parts: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": uri}} for uri in turn.image_uris()
    ]
    if turn.audio and not turn.text.strip():
        # Not transcribed yet: the backend transcribes it and reports the text back. Once a
        # turn has text, that text (the transcript, perhaps edited) stands for the audio.
        parts.append({"type": "input_audio", "input_audio": audio_part(turn.audio)})
    if text.strip():
        parts.append({"type": "text", "text": text})
    return parts


class UnreadableImage(ValueError):
    """A file sent as an image that Pillow cannot read as one (its message names the file,
    never the folder it sits in)."""


def is_url(image: str) -> bool:
    """An image given by its http(s) URL (the public API takes them), not a file here."""
    return image.startswith(("http://", "https://"))


def _image_url(image: str) -> str:
    """What an image_url part carries: a file as a data: URI; a URL as it is, for the
    backend to fetch under its own rules (--image-url-hosts), never fetched by the page."""
    return image if is_url(image) else image_data_uri(image)


def image_data_uri(path: str | Path, max_side: int = MAX_IMAGE_SIDE) -> str:
    """The image as a data: URI, downscaled so its longer side is at most `max_side`.

    Screenshots stay PNG (sharp text, flat colours); photos go as JPEG, which is far smaller.
    """
    try:
        with Image.open(path) as image:
            keep_png = image.format == "PNG"
            image = image.convert("RGB")
    except (OSError, Image.DecompressionBombError) as error:  # not an image, or a pixel bomb
        raise UnreadableImage(
            f"{Path(path).name} could not be read as an image. Send a PNG, JPEG or WebP screenshot."
        ) from error
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


class Stopwatch:
    """Timestamps of one streamed answer; `clock` is injectable so tests are exact."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self.started = clock()
        self.first_token: float | None = None
        self.first_answer_token: float | None = None
        self.finished: float | None = None

    def token(self) -> None:
        if self.first_token is None:
            self.first_token = self._clock()

    def answer_token(self) -> None:
        self.token()
        if self.first_answer_token is None:
            self.first_answer_token = self._clock()

    @property
    def reasoning_seconds(self) -> float | None:
        """How long the model thought: from its first token to the first answer token."""
        if self.first_token is None or self.first_answer_token is None:
            return None
        return self.first_answer_token - self.first_token

    def finish(self) -> None:
        self.finished = self._clock()

    def metrics(
        self,
        model: str,
        precision: str | None,
        usage: tuple[int, int] | None,
        weight_bytes: int | None = None,
    ) -> Metrics:
        ttft = None if self.first_token is None else self.first_token - self.started
        speed = None
        if usage and self.first_token is not None and self.finished is not None:
            decode = self.finished - self.first_token
            # The first token's time is in the TTFT, so the rate covers the tokens after it.
            if decode > 0 and usage[1] > 1:
                speed = (usage[1] - 1) / decode
        return Metrics(
            model=model,
            precision=precision,
            ttft_s=ttft,
            tokens_per_s=speed,
            prompt_tokens=usage[0] if usage else None,
            completion_tokens=usage[1] if usage else None,
            weight_bytes=weight_bytes,
        )
