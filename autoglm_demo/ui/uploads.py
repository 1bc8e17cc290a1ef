"""Where the page keeps what people upload, and when it lets go of it.

Uploads (screenshots, recordings) and the action overlays drawn from them go to one
private folder per process (mode 0700, from mkdtemp), not the machine-wide temp folder,
and each session's files are deleted when the session ends: a QA tester's screenshots
should not outlive their browser tab on a shared demo server. An API call's files go when
the call ends (`call_files`); a file that something else still holds stays (`file_holds`).

Gradio reads a file named by the browser only if it lies in that folder, and serves files
only from it (and folders the page allows), once the page is marked launched: see
`check_file_access`.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import gradio as gr

from autoglm_demo.conversation import Turn
from autoglm_demo.ui.file_holds import HOLDS, inside

log = logging.getLogger(__name__)

_ENV = "GRADIO_TEMP_DIR"


def private_upload_dir() -> Path:
    """The process's upload folder; created on first call, then reused.

    Gradio reads GRADIO_TEMP_DIR when components are built, so call this before building
    the page. A folder the operator set explicitly is respected; one made here goes when
    the process exits, with any upload that was never sent.
    """
    if not os.environ.get(_ENV):
        os.environ[_ENV] = tempfile.mkdtemp(prefix="autoglm-uploads-")
        atexit.register(shutil.rmtree, os.environ[_ENV], ignore_errors=True)
    return Path(os.environ[_ENV])


def session_files(turns: Iterable[Turn]) -> list[Path]:
    files: list[str] = []
    for turn in turns:
        files.extend(turn.images)
        files.extend(path for path in (turn.audio, turn.overlay) if path)
    return [Path(path) for path in files]


def forget_session(turns: list[Turn]) -> None:
    """Gradio's delete callback for the conversation state: remove the session's files.

    Only files inside the private folder are touched, and only those nothing else holds
    (`file_holds`): the page's cached examples, another tab's or an API call's upload of
    the same file stay.
    """
    root = private_upload_dir()
    HOLDS.let_go(inside(session_files(turns), root), root, leaving=turns)
    log.debug("Let go of the files of a closed session (%d turns)", len(turns))


def check_file_access(demo: gr.Blocks) -> None:
    """Turn on Gradio's path checks for every event of `demo`, mounted or launched.

    Gradio checks each file path an event receives (it must lie in the upload folder) and
    each one it returns (upload folder, allowed_paths, cwd or temp folder, and never
    blocked_paths) only once the app `has_launched`, which `launch()` sets and
    `gr.mount_gradio_app` does not (processing_utils._check_allowed returns early). Left
    unset, any client could name /proc/self/environ as "its" recording and get it back by
    URL. Set after mounting, as `launch()` does after creating its app.
    """
    demo.has_launched = True


def never_served(*folders: Path) -> list[str]:
    """Gradio's blocked_paths: `folders`, less any that hold the upload folder.

    Gradio lets events return files from the working directory and the temp folder; the
    page's own source, weights and QA database are blocked there too, in case a handler
    ever returns a path it did not make.
    """
    uploads = private_upload_dir().resolve()
    kept = [folder.resolve() for folder in folders]
    return [str(folder) for folder in kept if not uploads.is_relative_to(folder)]


def end_sessions_when_closed(demo: gr.Blocks) -> None:
    """Delete a session's state, and with it its files, as soon as its tab closes.

    Gradio marks a session closed when the page's heartbeat connection drops (tab closed
    or reloaded) and keeps its state an hour longer, so a reopened tab could resume; its
    browser client never reconnects to a closed session, so that hour only kept the
    uploads downloadable. Deleting the state at once runs the delete callbacks
    (`forget_session`), as expiry would have an hour later.
    """

    def end_session(request: gr.Request) -> None:
        demo.state_holder.delete_state(request.session_hash)

    demo.unload(end_session)  # needs no `with demo:`, whose exit would attach load events again
