"""Where the page keeps what people upload, and when it lets go of it.

Uploads (screenshots, recordings) and the action overlays drawn from them go to one
private folder per process (mode 0700, from mkdtemp), not the machine-wide temp folder,
and each session's files are deleted when the session ends: a QA tester's screenshots
should not outlive their browser tab on a shared demo server.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from autoglm_demo.conversation import Turn

log = logging.getLogger(__name__)

_ENV = "GRADIO_TEMP_DIR"


def private_upload_dir() -> Path:
    """The process's upload folder; created on first call, then reused.

    Gradio reads GRADIO_TEMP_DIR when components are built, so call this before building
    the page. A folder the operator set explicitly is respected.
    """
    if not os.environ.get(_ENV):
        os.environ[_ENV] = tempfile.mkdtemp(prefix="autoglm-uploads-")
    return Path(os.environ[_ENV])


def session_files(turns: Iterable[Turn]) -> list[Path]:
    files: list[str] = []
    for turn in turns:
        files.extend(turn.images)
        files.extend(path for path in (turn.audio, turn.overlay) if path)
    return [Path(path) for path in files]


def forget_session(turns: list[Turn]) -> None:
    """Gradio's delete callback for the conversation state: remove the session's files.

    Only files inside the private folder are touched, so shipped example images (which
    Gradio may serve from elsewhere) are never deleted.
    """
    root = private_upload_dir().resolve()
    for path in session_files(turns):
        resolved = path.resolve()
        if resolved.is_relative_to(root) and resolved.is_file():
            resolved.unlink(missing_ok=True)
    log.debug("Removed the files of a closed session (%d turns)", len(turns))
