"""Event logic of the chat: turn inputs into turns, and list what the backend serves.
Nothing here knows about Gradio components, so it is tested without a browser; answering a
turn is `autoglm_demo.answering`'s job.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import openai

from autoglm_demo.client import BackendClient
from autoglm_demo.conversation import Turn, sample_messages
from autoglm_demo.ui.models import ServedModels
from autoglm_demo.ui.voice import VoiceInput


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


async def fetch_models(client: BackendClient) -> tuple[ServedModels, str | None]:
    """The served models, or none and the reason they could not be listed."""
    try:
        return ServedModels(tuple(await client.list_models())), None
    except openai.APIError as error:
        return ServedModels(), error.message
