"""A QA session as files to hand over, and back into a database.

- JSONL, the complete record: a first line describing the session, then one line per turn
  with everything the database holds about it. Importing it gives the same turns back.
- CSV, for a spreadsheet: one row per turn, the columns a reviewer reads.
- zip, when the session's media was stored: the JSONL and CSV, and every stored image and
  recording under media/, named by its sha256. Importing it restores the media too.

The CSV file carries a byte-order mark: without one, Excel reads UTF-8 (Chinese) as mojibake.
"""

from __future__ import annotations

import csv
import io
import json
import mimetypes
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from autoglm_demo.qa.codec import (
    json_default,
    session_from_dict,
    session_to_dict,
    turn_from_dict,
    turn_to_dict,
)
from autoglm_demo.qa.media import sha256_of
from autoglm_demo.qa.records import Blob, MediaRef, SessionRecord, TurnRecord

FORMAT = "autoglm-qa-session"
VERSION = 1
MAX_MEDIA_BYTES = 256 * 1024 * 1024  # one file in an imported zip, uncompressed
MEDIA_FOLDER = "media"  # in a zip: media/<sha256>.<extension>

CSV_COLUMNS = (
    "session_id",
    "turn_id",
    "seq",
    "created_at",
    "model",
    "precision",
    "status",
    "question",
    "images",
    "audio",
    "reasoning",
    "answer",
    "error",
    "rating",
    "comment",
    "ttft_s",
    "tokens_per_s",
    "prompt_tokens",
    "completion_tokens",
    "temperature",
    "top_p",
    "max_tokens",
    "enable_thinking",
    "system_prompt",
    "replay_of",
)


class InvalidExport(ValueError):
    """The file is not a QA session export; the message says where and why."""


# Writing.


def to_jsonl(session: SessionRecord) -> str:
    lines = [_session_json(session), *(turn_to_dict(turn) for turn in session.turns)]
    return "".join(
        json.dumps(line, ensure_ascii=False, default=json_default) + "\n" for line in lines
    )


def to_csv(session: SessionRecord) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for turn in session.turns:
        writer.writerow(_csv_row(session, turn))
    return buffer.getvalue()


def write_zip(session: SessionRecord, blobs: list[Blob], target: Path) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("session.jsonl", to_jsonl(session))
        archive.writestr("session.csv", to_csv(session))
        for blob in blobs:
            extension = mimetypes.guess_extension(blob.mime) or ""
            archive.writestr(f"{MEDIA_FOLDER}/{blob.sha256}{extension}", blob.data)


def write_exports(
    session: SessionRecord, folder: Path, blob: Callable[[str], Blob | None]
) -> list[Path]:
    """The session's JSONL and CSV files in `folder`, and its zip when media was stored."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"qa-session-{session.created_at:%Y%m%d-%H%M%S}-{session.id[:8]}"
    jsonl, table = folder / f"{stem}.jsonl", folder / f"{stem}.csv"
    jsonl.write_text(to_jsonl(session), encoding="utf-8")
    table.write_text(to_csv(session), encoding="utf-8-sig")
    files = [jsonl, table]
    blobs = _stored_blobs(session, blob)
    if blobs:
        files.append(folder / f"{stem}.zip")
        write_zip(session, blobs, files[-1])
    return files


def _stored_blobs(session: SessionRecord, blob: Callable[[str], Blob | None]) -> list[Blob]:
    hashes = {ref.sha256 for turn in session.turns for ref in _refs(turn) if ref.sha256}
    return [found for found in map(blob, sorted(hashes)) if found]


# Reading.


def read_export(path: Path) -> tuple[SessionRecord, list[Blob]]:
    """A session from a .jsonl or .zip export, with the media a zip carries."""
    if zipfile.is_zipfile(path):
        return _read_zip(path)
    try:
        return from_jsonl(path.read_text(encoding="utf-8"), path.name), []
    except UnicodeDecodeError:
        raise InvalidExport(f"{path.name}: not a JSONL or zip export of a QA session") from None


def from_jsonl(content: str, name: str = "export") -> SessionRecord:
    lines = [(number, line) for number, line in enumerate(content.splitlines(), 1) if line.strip()]
    if not lines:
        raise InvalidExport(f"{name}: the file is empty")
    session: SessionRecord | None = None
    turns: list[TurnRecord] = []
    for number, line in lines:
        try:
            data = json.loads(line)
            if session is None:
                session = _session_from_json(data)
            else:
                turns.append(_turn_from_json(data, session.id))
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidExport(f"{name}, line {number}: {_problem(error)}") from None
    assert session is not None
    return SessionRecord(
        session.id, session.created_at, session.title, session.replay_of, tuple(turns)
    )


def _read_zip(path: Path) -> tuple[SessionRecord, list[Blob]]:
    with zipfile.ZipFile(path) as archive:
        try:
            session = from_jsonl(
                archive.read("session.jsonl").decode("utf-8"), f"{path.name}:session.jsonl"
            )
        except KeyError:
            raise InvalidExport(f"{path.name}: the zip holds no session.jsonl") from None
        mimes = {
            ref.sha256: ref.mime for turn in session.turns for ref in _refs(turn) if ref.sha256
        }
        blobs = []
        for entry in archive.infolist():
            name = PurePosixPath(entry.filename)
            sha256 = name.stem
            if str(name.parent) != MEDIA_FOLDER or sha256 not in mimes:
                continue  # not media, or media no turn refers to
            if entry.file_size > MAX_MEDIA_BYTES:
                raise InvalidExport(
                    f"{path.name}: {entry.filename} is larger than {MAX_MEDIA_BYTES} bytes"
                )
            data = archive.read(entry)
            if sha256_of(data) != sha256:
                raise InvalidExport(f"{path.name}: {entry.filename} does not match its sha256")
            blobs.append(Blob(sha256, mimes[sha256], data))
    return session, blobs


def _problem(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"missing field {error.args[0]!r}"
    return str(error)


# The JSON shapes: the session's and the turns' are `codec`'s, the first line also names
# the format.


def _session_json(session: SessionRecord) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, **session_to_dict(session)}


def _session_from_json(data: dict[str, Any]) -> SessionRecord:
    if data.get("format") != FORMAT:
        raise ValueError(f"the first line must describe a session ({FORMAT!r})")
    if data.get("version") != VERSION:
        raise ValueError(f"version {data.get('version')!r} is not supported (this reads {VERSION})")
    return session_from_dict(data)


def _turn_from_json(data: dict[str, Any], session_id: str) -> TurnRecord:
    if data.get("format"):
        raise ValueError("one file holds one session; this is the start of another")
    return turn_from_dict(data, session_id)


def _refs(turn: TurnRecord) -> list[MediaRef]:
    return [*turn.images, *([turn.audio] if turn.audio else [])]


def _csv_row(session: SessionRecord, turn: TurnRecord) -> dict[str, Any]:
    metrics, options, feedback = turn.metrics, turn.options, turn.feedback
    return {
        "session_id": session.id,
        "turn_id": turn.id,
        "seq": turn.seq,
        "created_at": turn.created_at.isoformat(),
        "model": turn.model,
        "precision": turn.precision or "",
        "status": turn.status.value,
        "question": turn.text,
        "images": "; ".join(ref.name for ref in turn.images),
        "audio": turn.audio.name if turn.audio else "",
        "reasoning": turn.reasoning,
        "answer": turn.answer,
        "error": turn.error or "",
        "rating": feedback.rating.value if feedback else "",
        "comment": feedback.comment if feedback else "",
        "ttft_s": _number(metrics.ttft_s if metrics else None),
        "tokens_per_s": _number(metrics.tokens_per_s if metrics else None),
        "prompt_tokens": _number(metrics.prompt_tokens if metrics else None),
        "completion_tokens": _number(metrics.completion_tokens if metrics else None),
        "temperature": options.temperature,
        "top_p": options.top_p,
        "max_tokens": options.max_tokens,
        "enable_thinking": options.enable_thinking,
        "system_prompt": turn.system_prompt,
        "replay_of": turn.replay_of or "",
    }


def _number(value: float | int | None) -> str:
    return "" if value is None else str(value)
