"""Who still holds a file of the upload folder, and the deletion of files nobody holds.

Gradio names an upload by its content (`<folder>/<sha256>/<name>`), so two tabs, or a tab
and an API call, that send the same file under the same name share one path, as do the
examples Gradio cached there when the page was built. Whoever is done with a file (a tab
that closes, an API call that ends) lets go of it, and it is deleted only if nothing else
holds it:
- a page itself: every file in the folder when the page was built (its cached examples);
- a page's sessions: their state (a tab's chat keeps its screenshots, recordings and
  overlays);
- API calls: those running (`hold`), and any event waiting in a page's queue.
A browser upload not yet sent is known to its browser only: should an API call send the
same bytes under the same name meanwhile, the tab has to attach it again.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from gradio_client.utils import is_http_url_like

log = logging.getLogger(__name__)

_GRADIO_FOLDER = re.compile(r"[0-9a-f]{64}")  # Gradio's folder for an upload: its sha256


class FileHolds:
    """The holders of the upload folder's files, for one process (the folder is one too)."""

    def __init__(self) -> None:
        self._pages: weakref.WeakSet[gr.Blocks] = weakref.WeakSet()
        self._page_files: set[Path] = set()
        self._running: Counter[Path] = Counter()
        # Tabs let go from Gradio's worker threads, API calls from the event loop.
        self._lock = threading.Lock()

    def watch_page(self, demo: gr.Blocks, folder: Path) -> None:
        """Count `demo`'s sessions and queue among the holders; call once it is built,
        when the files in `folder` are its own."""
        with self._lock:
            self._pages.add(demo)
            self._page_files.update(path.resolve() for path in folder.rglob("*") if path.is_file())

    def hold(self, paths: Iterable[Path]) -> None:
        """A running API call holds `paths` (from `inside`) until it lets go of them."""
        with self._lock:
            self._running.update(paths)

    def let_go(
        self, paths: Iterable[Path], folder: Path, *, held: bool = False, leaving: Any = None
    ) -> None:
        """Delete each of `paths` (from `inside`) that nothing else holds.

        `held`: the caller had held them (`hold`). `leaving`: the session state value being
        deleted, which no longer counts as a holder."""
        paths = list(paths)
        with self._lock:
            if held:
                self._running.subtract(paths)
                self._running = +self._running  # drop the counts that reached zero
            kept = self._page_files | set(self._running) | self._in_pages(folder, leaving)
            for path in paths:
                if path not in kept:
                    _delete(path, folder)

    def _in_pages(self, folder: Path, leaving: Any) -> set[Path]:
        """The files the pages' sessions keep, and those their queued events name."""
        values: list[Any] = []
        for demo in list(self._pages):
            for session in list(demo.state_holder.session_data.values()):
                values.extend(v for v in list(session.state_data.values()) if v is not leaving)
            queue = getattr(demo, "_queue", None)  # Gradio's queue: events not started yet
            for waiting in list(getattr(queue, "event_queue_per_concurrency_id", {}).values()):
                values.extend(event.data.data for event in list(waiting.queue) if event.data)
        # Only strings that name the folder are resolved, not every answer and data: URI.
        prefixes = (str(folder), str(folder.resolve()))
        named = (text for text in _strings(values, set()) if text.startswith(prefixes))
        return set(inside(named, folder))


HOLDS = FileHolds()


def inside(paths: Iterable[str | Path | None], folder: Path) -> Iterator[Path]:
    """Each of `paths` that lies in `folder`, resolved, once; URLs and None are skipped."""
    root = folder.resolve()
    seen: set[Path] = set()
    for path in paths:
        if not path or is_http_url_like(str(path)):
            continue
        resolved = Path(path).resolve()
        if resolved.is_relative_to(root) and resolved != root and resolved not in seen:
            seen.add(resolved)
            yield resolved


def _strings(value: Any, visited: set[int]) -> Iterator[str]:
    """Every string in `value`, through lists, dicts and dataclasses (a Turn's files)."""
    if isinstance(value, (str, Path)):
        yield str(value)
        return
    if id(value) in visited:
        return
    visited.add(id(value))
    if isinstance(value, dict):
        children: Iterable[Any] = value.values()
    elif isinstance(value, (list, tuple, set, frozenset)):
        children = value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        children = (getattr(value, field.name) for field in dataclasses.fields(value))
    else:
        return
    for child in children:
        yield from _strings(child, visited)


def _delete(path: Path, folder: Path) -> None:
    """Remove the file, and the folder Gradio made for it (`<sha256>/`) once it is empty."""
    if not path.is_file():
        return
    path.unlink(missing_ok=True)
    parent = path.parent
    if parent.parent == folder.resolve() and _GRADIO_FOLDER.fullmatch(parent.name):
        try:
            parent.rmdir()
        except OSError:  # not empty, or already gone: another file still lives there
            pass
    log.debug("Deleted %s", path)
