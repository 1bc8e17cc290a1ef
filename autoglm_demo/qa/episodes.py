"""Multi-step episodes: the screenshots of one task, in order, each with its right action.

An episode is a QA session with a `task`. Its turns are the steps: uploaded together
(`build_episode`, stored by `QaStore.create_episode`), they wait for their first answer
(`RecordStatus.PENDING`); recorded on the page, each is an agent-mode turn of a session
that has a task. Either way a replay asks them as the official agent does (`replay.py`):
the task once, in the first step's text, and each step with its own screenshot.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence

from PIL import Image

from autoglm_demo.phone_agent import preset_prompt
from autoglm_demo.qa.codec import target_from_dict, target_to_dict
from autoglm_demo.qa.media import reference_problem, sha256_of
from autoglm_demo.qa.records import (
    Blob,
    MediaKind,
    MediaRef,
    RecordedOptions,
    RecordStatus,
    SessionRecord,
    TurnRecord,
    new_id,
    title_of,
    utc_now,
)
from autoglm_demo.scoring import Target

MAX_STEPS = 500
MAX_TASK_CHARS = 2000
# What a screenshot may be, as Pillow names the format, and the MIME type it is kept under.
SCREENSHOT_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
# The options an uploaded step is recorded with, and so asked with by `eval` unless its
# --temperature, --top-p or --max-tokens say otherwise (the QA tab's dry run asks with the
# Chat tab's answer settings instead). Greedy decoding: variants compared on an episode
# should differ by their weights alone, not by the luck of sampling. 1024 tokens, the
# chat's default: room for the reasoning the real model writes before its action. A model
# with a small context needs fewer: the backend refuses a step whose prompt (the system
# prompt, the task and every earlier step's answer) and max_tokens do not fit.
EPISODE_OPTIONS = RecordedOptions(temperature=0.0, top_p=1.0, max_tokens=1024)


def build_episode(
    task: str,
    screenshots: Sequence[tuple[str, bytes]],
    targets: Sequence[Target | None],
    system_prompt: str | None = None,
) -> tuple[SessionRecord, list[Blob]]:
    """The episode's session and its screenshots' bytes; ValueError says what is wrong.
    `system_prompt` defaults to the phone-agent preset in the task's language."""
    if not isinstance(task, str) or not task.strip():
        raise ValueError("an episode needs a task")
    if len(task) > MAX_TASK_CHARS:
        raise ValueError(f"the task is longer than {MAX_TASK_CHARS} characters")
    if not screenshots:
        raise ValueError("an episode needs at least one screenshot")
    if len(screenshots) > MAX_STEPS:
        raise ValueError(f"{len(screenshots)} screenshots; an episode has at most {MAX_STEPS}")
    if len(targets) != len(screenshots):
        raise ValueError(f"{len(screenshots)} screenshots but {len(targets)} targets")
    prompt = system_prompt if system_prompt is not None else preset_prompt(task_language(task))
    session = SessionRecord(new_id(), utc_now(), title_of(task), task=task.strip())
    steps, blobs = [], []
    for seq, ((name, data), target) in enumerate(zip(screenshots, targets, strict=True)):
        ref, blob = _screenshot(seq, name, data)
        steps.append(_step(session, seq, ref, _checked(seq, target), prompt))
        blobs.append(blob)
    unique = list({blob.sha256: blob for blob in blobs}.values())
    return dataclasses.replace(session, turns=tuple(steps)), unique


def task_language(task: str) -> str:
    """zh when the task is written in Chinese, else en: the preset prompt to ask it with."""
    return "zh" if any("\u4e00" <= char <= "\u9fff" for char in task) else "en"


def _screenshot(seq: int, name: str, data: bytes) -> tuple[MediaRef, Blob]:
    if problem := reference_problem("0" * 64, name):
        raise ValueError(f"step {seq + 1}: {problem}")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()  # a truncated or corrupt file is refused here, not mid-replay
            kind = image.format
    except Exception:  # Pillow raises many types for a file that is no image
        raise ValueError(f"step {seq + 1}: {name} is not a PNG, JPEG or WebP image") from None
    if kind not in SCREENSHOT_FORMATS:
        raise ValueError(f"step {seq + 1}: {name} is {kind}, not a PNG, JPEG or WebP image")
    blob = Blob(sha256_of(data), SCREENSHOT_FORMATS[kind], data)
    return MediaRef(MediaKind.IMAGE, name, blob.sha256, blob.mime, len(data)), blob


def _checked(seq: int, target: Target | None) -> Target | None:
    """The target, through the same checks as an imported one."""
    if target is None:
        return None
    try:
        return target_from_dict(target_to_dict(target))
    except (TypeError, ValueError) as error:
        raise ValueError(f"step {seq + 1}: {error}") from None


def _step(
    session: SessionRecord, seq: int, image: MediaRef, target: Target | None, prompt: str
) -> TurnRecord:
    return TurnRecord(
        id=new_id(),
        session_id=session.id,
        seq=seq,
        created_at=session.created_at,
        # The official agent states the task in its first message only.
        text=(session.task or "") if seq == 0 else "",
        images=(image,),
        audio=None,
        system_prompt=prompt,
        context=(),
        model="",
        precision=None,
        options=EPISODE_OPTIONS,
        status=RecordStatus.PENDING,
        reasoning="",
        answer="",
        error=None,
        metrics=None,
        reasoning_seconds=None,
        target=target,
    )
