"""Screenshots and recordings in and out of the QA store, addressed by their sha256.

Recording reads a turn's files into references (and bytes, when media is stored). Showing or
replaying a session needs files again: `MediaFolder` writes stored bytes back out, once per
hash, under the name they were uploaded with.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from autoglm_demo.qa.records import Blob, MediaKind, MediaRef
from autoglm_demo.qa.store import QaStore

log = logging.getLogger(__name__)


def mime_of(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_media(path: str, kind: MediaKind) -> tuple[MediaRef, Blob | None]:
    """The reference to a file and its bytes. A file already gone (its browser session ended
    and took its uploads along) still gets a reference, by name only."""
    name = Path(path).name
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        log.warning(
            "QA recording: %s was removed before it could be read; keeping its name only", path
        )
        return MediaRef(kind, name, None, mime_of(name), None), None
    blob = Blob(sha256_of(data), mime_of(name), data)
    return MediaRef(kind, name, blob.sha256, blob.mime, len(data)), blob


def safe_name(name: str) -> str:
    """A file name from a database or an imported file, with any folders stripped."""
    return Path(name.replace("\\", "/")).name or "file"


class MediaFolder:
    def __init__(self, store: QaStore, root: Path) -> None:
        self.store = store
        self.root = root

    def path(self, ref: MediaRef | None) -> str | None:
        """A local file holding the referenced media, or None when its bytes were not stored."""
        if ref is None or ref.sha256 is None:
            return None
        target = self.root / ref.sha256 / safe_name(ref.name)
        if not target.exists():
            blob = self.store.blob(ref.sha256)
            if blob is None:
                return None
            _write_atomically(target, blob.data)
        return str(target)

    def paths(self, refs: Iterable[MediaRef]) -> list[str]:
        return [path for path in map(self.path, refs) if path]


def _write_atomically(target: Path, data: bytes) -> None:
    """Two sessions showing the same screenshot at once must not see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent)
    with os.fdopen(handle, "wb") as file:
        file.write(data)
    os.replace(temporary, target)
