"""Screenshots and recordings in and out of the QA store, addressed by their sha256.

Recording reads a turn's files into references (and bytes, when media is stored). Showing or
replaying a session needs files again: `MediaFolder` writes stored bytes back out, once per
hash, under the name they were uploaded with.

A reference's hash and name become a path, and an imported file can hold any text there
("sha256": "/etc", "name": "passwd"). So a reference is checked when it is imported
(`reference_problem`) and again before it becomes a path: a hash is 64 lowercase hex
digits, a name is one plain file name, and the path stays under the media folder.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from autoglm_demo.qa.records import Blob, MediaKind, MediaRef, TurnRecord

if TYPE_CHECKING:  # the store builds episodes with this module's checks: no import cycle
    from autoglm_demo.qa.store import QaStore

log = logging.getLogger(__name__)

SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_NAME_BYTES = 255  # the longest file name Linux, macOS and Windows file systems take


def mime_of(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_media(path: str, kind: MediaKind) -> tuple[MediaRef, Blob | None]:
    """The reference to a file and its bytes. A file already gone (its browser session ended
    and took its uploads along) still gets a reference, by name only."""
    # A backslash is a separator on Windows: keep names that reference_problem accepts.
    name = Path(path).name.replace("\\", "_")
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        log.warning(
            "QA recording: %s was removed before it could be read; keeping its name only", path
        )
        return MediaRef(kind, name, None, mime_of(name), None), None
    blob = Blob(sha256_of(data), mime_of(name), data)
    return MediaRef(kind, name, blob.sha256, blob.mime, len(data)), blob


def reference_problem(sha256: object, name: object) -> str | None:
    """What makes a media reference unsafe to turn into a path, or None when it is fine.
    A missing hash (the file was gone before it could be read) is fine: it names no file."""
    if sha256 is not None and not (isinstance(sha256, str) and SHA256.fullmatch(sha256)):
        return f"media hash {_shown(sha256)} is not 64 lowercase hex digits"
    if not isinstance(name, str) or not name:
        return "a media file has no name"
    if "/" in name or "\\" in name or "\0" in name or name in (".", ".."):
        return f"media name {_shown(name)} is not a plain file name"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"media name {_shown(name)} is longer than {MAX_NAME_BYTES} bytes"
    return None


def image_size(path: str | None) -> tuple[int, int] | None:
    """An image's (width, height) in pixels; None when there is no readable image."""
    if path is None:
        return None
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError):
        return None


def _shown(value: object) -> str:
    """A value quoted for a message, cut short: the message must stay readable."""
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


class MediaFolder:
    def __init__(self, store: QaStore, root: Path) -> None:
        self.store = store
        self.root = root

    def path(self, ref: MediaRef | None) -> str | None:
        """A local file holding the referenced media, or None when its bytes were not stored
        (or the reference is not one this folder can safely hold)."""
        if ref is None or ref.sha256 is None:
            return None
        target = self._target(ref)
        if target is None:
            return None
        if not target.exists():
            blob = self.store.blob(ref.sha256)
            if blob is None:
                return None
            _write_atomically(target, blob.data)
        return str(target)

    def paths(self, refs: Iterable[MediaRef]) -> list[str]:
        return [path for path in map(self.path, refs) if path]

    def screenshot(self, turn: TurnRecord) -> str | None:
        """A local file of the screen the turn's answer acts on (`TurnRecord.screenshot`)."""
        return self.path(turn.screenshot)

    def screen_size(self, turn: TurnRecord) -> tuple[int, int] | None:
        """The pixel size of that screen, which a point's tolerance is a share of."""
        return image_size(self.screenshot(turn))

    def _target(self, ref: MediaRef) -> Path | None:
        """Where the reference's file goes, if that is inside this folder. References from
        before imports were checked may still be in a database: they are refused here."""
        problem = reference_problem(ref.sha256, ref.name)
        root = self.root.resolve()
        target = root / str(ref.sha256) / ref.name
        if problem is None and not target.resolve().is_relative_to(root):
            problem = "it resolves outside the media folder"
        if problem:
            log.warning("QA media: refused the reference %r: %s", ref, problem)
            return None
        return target


def _write_atomically(target: Path, data: bytes) -> None:
    """Two sessions showing the same screenshot at once must not see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent)
    with os.fdopen(handle, "wb") as file:
        file.write(data)
    os.replace(temporary, target)
