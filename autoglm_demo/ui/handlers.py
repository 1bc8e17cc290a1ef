"""Event logic of the page: turn inputs and client events into turns, then into Chatbot
messages. Nothing here knows about Gradio components, so it is tested without a browser.

The answer being streamed is updated in place on the last `Turn` (which Gradio keeps in
session state by reference). That matters for Stop: a cancelled generator cannot yield
again, but the turn it was filling is already up to date, and the `finally` marks it
stopped, so the next render shows exactly what was said before the stop.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai

from autoglm_demo.client import (
    AnswerDelta,
    BackendClient,
    BackendError,
    ChatOptions,
    ClientEvent,
    InputTranscript,
    ReasoningDelta,
    ReasoningReset,
    UsageReport,
)
from autoglm_demo.ui.actions import check_answer
from autoglm_demo.ui.conversation import Status, Turn, request_messages, sample_messages
from autoglm_demo.ui.metrics import Stopwatch
from autoglm_demo.ui.models import Catalogue
from autoglm_demo.ui.overlay import save_overlay
from autoglm_demo.ui.voice import VoiceInput

RENDER_INTERVAL_S = 0.05  # re-rendering the whole chat per token is wasted work past ~20 Hz


@dataclass(frozen=True)
class Request:
    """What the controls say about the next answer."""

    model: str
    precision: str | None
    system_prompt: str
    options: ChatOptions
    weight_bytes: int | None = None
    reasoning_model: bool = False
    """The model thinks first: a tag-less reply is split at its first action."""
    agent: bool = False
    """Phone-agent mode: the official agent's message shape (see `phone_agent`)."""
    current_app: str | None = None
    """Agent mode: the app on screen, named in the question's screen-info line."""


def accept_input(turns: list[Turn], message: dict[str, Any] | None, audio: str | None) -> bool:
    """Append the submitted question as a new turn; False when there is nothing to send."""
    text = (message or {}).get("text") or ""
    images = list((message or {}).get("files") or [])
    if not text.strip() and not images and not audio:
        return False
    turns.append(Turn(text=text, images=images, audio=audio))
    return True


async def take_voice(
    voice: VoiceInput,
    turns: list[Turn],
    message: dict[str, Any] | None,
    audio: str,
    *,
    review: bool,
) -> dict[str, Any] | None:
    """Transcribe a recording or audio file (TranscriptionFailed says why it could not be).

    Review: returns the input box with the transcript added after what was typed, for
    editing; the audio stays attached for Send. Otherwise the box and transcript become a
    new turn at once, and None (an empty box) is returned.
    """
    heard = await voice.transcribe(Path(audio))
    typed = ((message or {}).get("text") or "").strip()
    box = {"text": f"{typed} {heard}".strip(), "files": list((message or {}).get("files") or [])}
    if review:
        return box
    accept_input(turns, box, audio)
    return None


def undo(turns: list[Turn]) -> dict[str, Any] | None:
    """Drop the last turn; its question goes back into the input box for editing."""
    if not turns:
        return None
    last = turns.pop()
    return {"text": last.text, "files": last.images}


def prepare_regenerate(turns: list[Turn]) -> bool:
    if not turns:
        return False
    turns[-1].reset_answer()
    return True


async def stream_answer(
    client: BackendClient,
    turns: list[Turn],
    request: Request,
    overlay_dir: Path | None,
    on_finished: Callable[[list[Turn]], None] | None = None,
) -> AsyncIterator[list[Turn]]:
    """Answer the last turn if it waits for one, yielding the turns as they change.

    Actions are drawn on the screenshot into `overlay_dir` (None: not drawn). `on_finished`
    gets the turns once the last one is done, failed or stopped (QA recording); it must
    return at once, since the final rendering waits for it.
    """
    if not turns or turns[-1].status is not Status.WAITING:
        return
    turn = turns[-1]
    turn.status = Status.STREAMING
    if request.agent:
        turn.current_app = (request.current_app or "").strip() or None
    yield turns
    clock = Stopwatch()
    usage: tuple[int, int] | None = None
    last_render = 0.0
    try:
        messages = request_messages(turns, request.system_prompt, agent=request.agent)
        events = client.stream_chat(
            request.model, messages, request.options, reasoning_model=request.reasoning_model
        )
        async for event in events:
            usage = _apply(turn, event, clock, question_index=len(messages) - 1) or usage
            if time.monotonic() - last_render >= RENDER_INTERVAL_S:
                last_render = time.monotonic()
                yield turns
        clock.finish()
        turn.metrics = clock.metrics(request.model, request.precision, usage, request.weight_bytes)
        if turn.status is Status.STREAMING:
            turn.status = Status.DONE
            turn.overlay = _overlay(turn, overlay_dir) if overlay_dir else None
    finally:
        if turn.status is Status.STREAMING:  # cancelled by Stop (or the page went away)
            turn.status = Status.STOPPED
        if on_finished:
            on_finished(turns)
    yield turns


def _apply(
    turn: Turn, event: ClientEvent, clock: Stopwatch, *, question_index: int
) -> tuple[int, int] | None:
    """Fold one client event into the turn; returns token usage when the event reports it.

    `question_index` is the turn's own message in the request, whose audio transcript
    becomes the turn's text (earlier messages already have theirs)."""
    # Finish needs no handling: usage may still follow it, so the stream's end is what
    # finishes the turn.
    if isinstance(event, ReasoningDelta):
        clock.token()
        turn.reasoning += event.text
    elif isinstance(event, ReasoningReset):
        turn.reasoning = ""
    elif isinstance(event, AnswerDelta):
        clock.answer_token()
        turn.reasoning_seconds = clock.reasoning_seconds if turn.reasoning else None
        turn.answer += event.text
    elif isinstance(event, UsageReport):
        return event.prompt_tokens, event.completion_tokens
    elif isinstance(event, BackendError):
        turn.error = event.message
        turn.status = Status.FAILED
    elif isinstance(event, InputTranscript) and event.message_index == question_index:
        turn.text = event.text
    return None


def _overlay(turn: Turn, overlay_dir: Path) -> str | None:
    """The turn's last screenshot with the answer's action drawn on it, if the answer is
    a valid action (the badge's verdict: a malformed one is not drawn) and there is one."""
    verdict = check_answer(turn.answer)
    if verdict.action is None or not turn.images:
        return None
    overlay_dir.mkdir(parents=True, exist_ok=True)
    target = overlay_dir / f"actions-{uuid.uuid4().hex}.png"
    return str(save_overlay(turn.images[-1], [verdict.action], target))


def export_last_turn(
    turns: list[Turn], system_prompt: str, agent: bool, folder: Path
) -> Path | None:
    """The request that answered the last answered turn, written as `sample_messages.json`
    (Open-AutoGLM's scripts/check_deployment_*.py --messages-file); None when none is."""
    answered = [i for i, turn in enumerate(turns) if turn.in_context]
    if not answered:
        return None
    target = folder / uuid.uuid4().hex / "sample_messages.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        sample_messages(turns[: answered[-1] + 1], system_prompt, agent=agent), encoding="utf-8"
    )
    return target


async def fetch_catalogue(client: BackendClient) -> tuple[Catalogue, str | None]:
    """The served models, or an empty catalogue and the reason none could be listed."""
    try:
        return Catalogue(tuple(await client.list_models())), None
    except openai.APIError as error:
        return Catalogue(), error.message
