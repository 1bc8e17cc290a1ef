"""Marked episodes as a data set others can use: one zip holding

- `episodes.jsonl`, one line per step: the episode and step, the task, the screenshot (a
  file in the zip, under images/, named by its sha256: a screenshot shared by several
  steps is stored once and lines stay short), its size in pixels, the history (every
  earlier step's think and answer) and the gold action (the target's JSON, and the call
  the model would write for it);
- `sample_messages/<episode>-<step>.json` for each marked step: the request the official
  agent would send at that step, a JSON list of OpenAI messages with the screenshot inline,
  the file Open-AutoGLM's scripts/check_deployment_*.py take as --messages-file;
- the screenshots under images/.

The history holds what was answered at each earlier step when it was recorded; a step not
answered yet (an uploaded episode) contributes its gold action with an empty think.
"""

from __future__ import annotations

import io
import json
import mimetypes
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from autoglm_demo.actions import Action, format_action
from autoglm_demo.conversation import Turn, TurnStatus, sample_messages
from autoglm_demo.phone_agent import UNKNOWN_APP
from autoglm_demo.qa.codec import target_to_dict
from autoglm_demo.qa.records import Blob, RecordStatus, SessionRecord, TurnRecord
from autoglm_demo.scoring import Region, Target

EPISODES_FILE = "episodes.jsonl"
IMAGES_FOLDER = "images"
SAMPLES_FOLDER = "sample_messages"


class NotAnEpisode(ValueError):
    pass


def gold_action(target: Target) -> str:
    """The call that hits `target` dead centre, as the model writes it."""
    point = _centre(target.start) if target.start else None
    end = _centre(target.end) if target.end else None
    text = target.text if target.text is not None else ("" if target.action == "finish" else None)
    return format_action(Action(target.action, point=point, end=end, text=text))


def _centre(region: Region) -> tuple[float, float]:
    x, y = region.centre
    return float(round(x)), float(round(y))  # the model writes whole numbers


def write_episode_set(
    sessions: Sequence[SessionRecord], blob: Callable[[str], Blob | None], target: Path
) -> Path:
    """The episodes as one zip at `target`; NotAnEpisode names a session that has no task,
    or no marked step (it would give no gold action)."""
    for session in sessions:
        if not session.is_episode:
            raise NotAnEpisode(f"session {session.id} is not an episode (it has no task)")
        if not any(turn.target for turn in session.turns):
            raise NotAnEpisode(f"episode {session.id} has no marked step")
    with (
        tempfile.TemporaryDirectory(prefix="autoglm-episodes-") as folder,
        zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        images = _Images(Path(folder), blob, archive)
        lines = []
        for session in sessions:
            for step, turn in enumerate(session.turns):
                line = _line(session, step, images.add(turn))
                if turn.target and line["image"]:
                    name = f"{SAMPLES_FOLDER}/{session.id[:8]}-{step:03d}.json"
                    archive.writestr(name, _request(session, step, images))
                    line["sample_messages"] = name
                lines.append(line)
        archive.writestr(
            EPISODES_FILE, "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        )
    return target


class _Images:
    """Each distinct screenshot written once into the zip, and kept on disk for the
    sample_messages files, which inline it."""

    def __init__(self, folder: Path, blob: Callable[[str], Blob | None], archive: Any) -> None:
        self.folder = folder
        self.blob = blob
        self.archive = archive
        self.found: dict[str, tuple[str, Path, tuple[int, int]] | None] = {}

    def add(self, turn: TurnRecord) -> tuple[str, Path, tuple[int, int]] | None:
        """The screenshot's name in the zip, its file here and its size; None if not stored."""
        sha256 = turn.screenshot.sha256 if turn.screenshot else None
        if sha256 is None:
            return None
        if sha256 not in self.found:
            self.found[sha256] = self._write(sha256)
        return self.found[sha256]

    def _write(self, sha256: str) -> tuple[str, Path, tuple[int, int]] | None:
        stored = self.blob(sha256)
        if stored is None:
            return None
        with Image.open(io.BytesIO(stored.data)) as image:
            size = image.size
        name = f"{IMAGES_FOLDER}/{sha256}{mimetypes.guess_extension(stored.mime) or ''}"
        path = self.folder / Path(name).name
        path.write_bytes(stored.data)
        self.archive.writestr(name, stored.data)
        return name, path, size

    def path(self, turn: TurnRecord) -> Path | None:
        found = self.add(turn)
        return found[1] if found else None


def _line(
    session: SessionRecord, step: int, image: tuple[str, Path, tuple[int, int]] | None
) -> dict[str, Any]:
    turn = session.turns[step]
    target = turn.target
    return {
        "episode": session.id,
        "step": step,
        "task": session.task,
        "image": image[0] if image else None,
        "screen": list(image[2]) if image else None,
        "history": [
            {"think": think, "answer": answer} for think, answer in map(_said, session.turns[:step])
        ],
        "gold": {"target": target_to_dict(target), "action": gold_action(target)}
        if target
        else None,
        "sample_messages": None,
    }


def _said(turn: TurnRecord) -> tuple[str, str]:
    """What a step contributes to the history: its recorded think/answer, or, unanswered,
    its gold action."""
    if turn.status is not RecordStatus.PENDING and turn.answer:
        return turn.reasoning, turn.answer
    return "", gold_action(turn.target) if turn.target else ""


def _request(session: SessionRecord, step: int, images: _Images) -> str:
    """The step's request in the official agent's shape, through the page's own builder."""
    turns = []
    for earlier in session.turns[:step]:
        think, answer = _said(earlier)
        # Earlier screenshots are not sent: no need to read them.
        turns.append(_turn(earlier, [], think, answer, TurnStatus.DONE))
    current = session.turns[step]
    path = images.path(current)
    turns.append(_turn(current, [str(path)] if path else [], "", "", TurnStatus.WAITING))
    return sample_messages(turns, current.system_prompt, agent=True)


def _turn(
    record: TurnRecord, images: list[str], think: str, answer: str, status: TurnStatus
) -> Turn:
    return Turn(
        text=record.text,
        images=images,
        reasoning=think,
        answer=answer,
        status=status,
        current_app=UNKNOWN_APP,
    )
