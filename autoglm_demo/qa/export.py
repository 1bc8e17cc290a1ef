"""A QA session as files to hand over, and back into a database.

- JSONL, the complete record: a first line describing the session, then one line per turn
  with everything the database holds about it. Importing it gives the same turns back.
- CSV, for a spreadsheet: one row per turn, the columns a reviewer reads.
- zip, when the session's media was stored: the JSONL and CSV, and every stored image and
  recording under media/, named by its sha256. Importing it restores the media too.

The CSV file carries a byte-order mark: without one, Excel reads UTF-8 (Chinese) as mojibake,
and no cell of it starts a formula (`_inert`).

An imported file is untrusted: its media references are checked before they can name a
file (media.py), and a zip is read within `ImportLimits`, its media streamed to disk.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import itertools
import json
import mimetypes
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from autoglm_demo.qa.codec import (
    json_default,
    session_from_dict,
    session_to_dict,
    turn_from_dict,
    turn_to_dict,
)
from autoglm_demo.qa.media import reference_problem
from autoglm_demo.qa.records import Blob, MediaRef, SessionRecord, TurnRecord

FORMAT = "autoglm-qa-session"
VERSION = 1
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
        writer.writerow({key: _inert(value) for key, value in _csv_row(session, turn).items()})
    return buffer.getvalue()


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def _inert(value: Any) -> Any:
    """A cell a spreadsheet shows as text instead of running it as a formula (CSV injection).

    As OWASP recommends, a cell that starts with = + - @, a tab or a carriage return (and,
    to be safe, a line feed) gets a leading apostrophe, which spreadsheets read as "this is
    text" and do not show. The csv module quotes separators and quotes, so no cell can start
    in the middle of a value. A plain number such as -3 or +1.5 is left alone: a spreadsheet
    reads it as that number, which runs nothing, and a negative figure stays a figure.
    defusedcsv does this job too, but misses tabs and carriage returns and rewrites every |
    in the cells it escapes.
    """
    formula = isinstance(value, str) and value.startswith(_FORMULA_STARTS)
    if formula and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def write_zip(session: SessionRecord, blobs: Iterable[Blob], target: Path) -> None:
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
    first = next(blobs, None)
    if first:
        files.append(folder / f"{stem}.zip")
        write_zip(session, itertools.chain([first], blobs), files[-1])
    return files


def _stored_blobs(session: SessionRecord, blob: Callable[[str], Blob | None]) -> Iterator[Blob]:
    """The session's stored media, read one file at a time as the zip is written."""
    hashes = {ref.sha256 for turn in session.turns for ref in _refs(turn) if ref.sha256}
    return (found for found in map(blob, sorted(hashes)) if found)


# Reading.


@dataclass(frozen=True)
class ImportLimits:
    """How much an imported file may make the server read. A zip says how large its entries
    are, but a small zip can unpack to gigabytes (one entry repeated, or a header that lies),
    so the sizes are checked as declared and again as bytes are actually read."""

    entries: int = 10_000  # zip entries, media or not
    jsonl_bytes: int = 64 * 1024 * 1024  # the session's JSONL, in a zip or alone
    media_bytes: int = 64 * 1024 * 1024  # one media file (page uploads are 20 MB by default)
    total_bytes: int = 1024 * 1024 * 1024  # everything a zip unpacks to


LIMITS = ImportLimits()
_CHUNK = 1024 * 1024  # media is copied to disk in pieces of this size, never whole
# What zipfile and zlib raise on a damaged archive: a bad CRC (a lying header), a stream cut
# short, an unsupported compression method, an encrypted entry.
_BROKEN_ZIP = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)


@dataclass(frozen=True)
class MediaFile:
    """One media file unpacked from an imported zip, checked against its hash."""

    sha256: str
    mime: str
    path: Path

    def blob(self) -> Blob:
        return Blob(self.sha256, self.mime, self.path.read_bytes())


@dataclass(frozen=True)
class Imported:
    session: SessionRecord
    media: tuple[MediaFile, ...] = ()

    def blobs(self) -> Iterator[Blob]:
        """The media's bytes, one file at a time, so that storing them holds one in memory."""
        return (file.blob() for file in self.media)


@contextmanager
def open_export(path: Path, limits: ImportLimits = LIMITS) -> Iterator[Imported]:
    """A session from a .jsonl or .zip export, with the media a zip carries, unpacked into a
    temporary folder that is removed when the block ends."""
    with tempfile.TemporaryDirectory(prefix="autoglm-qa-import-") as folder:
        if zipfile.is_zipfile(path):
            try:
                imported = _read_zip(path, Path(folder), limits)
            except _BROKEN_ZIP as error:
                raise InvalidExport(f"{path.name}: not a readable zip ({error})") from None
        else:
            imported = Imported(_read_jsonl(path, limits))
        yield imported


def _read_jsonl(path: Path, limits: ImportLimits) -> SessionRecord:
    if path.stat().st_size > limits.jsonl_bytes:
        raise InvalidExport(f"{path.name}: larger than {_mib(limits.jsonl_bytes)}")
    try:
        return from_jsonl(path.read_text(encoding="utf-8"), path.name)
    except UnicodeDecodeError:
        raise InvalidExport(f"{path.name}: not a JSONL or zip export of a QA session") from None


def from_jsonl(content: str, name: str = "export") -> SessionRecord:
    lines = [(number, line) for number, line in enumerate(content.splitlines(), 1) if line.strip()]
    if not lines:
        raise InvalidExport(f"{name}: the file is empty")
    session: SessionRecord | None = None
    turns: list[TurnRecord] = []
    for number, line in lines:
        where = f"{name}, line {number}"
        try:
            data = json.loads(line)
            if session is None:
                session = _session_from_json(data)
                continue
            where += _turn_named(data)
            turns.append(_turn_from_json(data, session.id))
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidExport(f"{where}: {_problem(error)}") from None
    assert session is not None
    return dataclasses.replace(session, turns=tuple(turns))


def _turn_named(data: Any) -> str:
    turn_id = data.get("id") if isinstance(data, dict) else None
    return f" (turn {turn_id})" if isinstance(turn_id, str) and len(turn_id) <= 64 else ""


def _read_zip(path: Path, folder: Path, limits: ImportLimits) -> Imported:
    with zipfile.ZipFile(path) as archive:
        entries = archive.infolist()
        if len(entries) > limits.entries:
            raise InvalidExport(
                f"{path.name}: {len(entries)} files in the zip; an export holds at most "
                f"{limits.entries}"
            )
        declared = sum(entry.file_size for entry in entries)
        if declared > limits.total_bytes:
            raise InvalidExport(
                f"{path.name}: the zip unpacks to {_mib(declared)}; an export may unpack to "
                f"at most {_mib(limits.total_bytes)}"
            )
        session = from_jsonl(_session_text(path, archive, limits), f"{path.name}:session.jsonl")
        mimes = {
            ref.sha256: ref.mime for turn in session.turns for ref in _refs(turn) if ref.sha256
        }
        unpacked: dict[str, MediaFile] = {}
        budget = limits.total_bytes
        for entry in entries:
            name = PurePosixPath(entry.filename)
            sha256 = name.stem
            if str(name.parent) != MEDIA_FOLDER or sha256 not in mimes:
                continue  # not media, or media no turn refers to
            if sha256 in unpacked:
                raise InvalidExport(f"{path.name}: {entry.filename} is in the zip twice")
            target = folder / sha256  # the name was checked: it is a hash some turn holds
            size = _unpack(archive, entry, target, min(limits.media_bytes, budget))
            budget -= size
            unpacked[sha256] = MediaFile(sha256, mimes[sha256], target)
    return Imported(session, tuple(unpacked.values()))


def _session_text(path: Path, archive: zipfile.ZipFile, limits: ImportLimits) -> str:
    try:
        with archive.open("session.jsonl") as file:
            data = file.read(limits.jsonl_bytes + 1)  # past the limit by one byte: too large
    except KeyError:
        raise InvalidExport(f"{path.name}: the zip holds no session.jsonl") from None
    if len(data) > limits.jsonl_bytes:
        raise InvalidExport(
            f"{path.name}: session.jsonl unpacks to more than {_mib(limits.jsonl_bytes)}"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidExport(f"{path.name}: session.jsonl is not UTF-8 text") from None


def _unpack(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, target: Path, limit: int) -> int:
    """Copy one media entry to `target` in chunks, hashing as it goes; its size. Refused
    past `limit` bytes, whatever its header declared, and unless it matches its hash (the
    name of `target`)."""
    name = Path(str(archive.filename)).name
    too_large = InvalidExport(
        f"{name}: {entry.filename} unpacks to more than {_mib(limit)}, the most this export "
        "has room for"
    )
    if entry.file_size > limit:
        raise too_large
    digest, size = hashlib.sha256(), 0
    with archive.open(entry) as source, target.open("wb") as sink:
        while chunk := source.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise too_large
            digest.update(chunk)
            sink.write(chunk)
    if digest.hexdigest() != target.name:
        raise InvalidExport(f"{name}: {entry.filename} does not match its sha256")
    return size


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size} bytes"


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
    # References name files once imported: refused unless they are plain names and hashes.
    for ref in [*data["images"], *([data["audio"]] if data["audio"] else [])]:
        if problem := reference_problem(ref["sha256"], ref["name"]):
            raise ValueError(problem)
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
