"""llama.cpp's own log, sent through Python's logging at the level the server runs at.

llama.cpp reports through one process-wide callback: a line per tensor while it quantizes or
loads a file, the context's sizes, warnings. llama-cpp-python's callback prints all of that
straight to stderr, whatever `--log-level` says. `import_llama_cpp` replaces it, once, with
one that hands whole lines to the `llama.cpp` logger. llama.cpp's INFO is a dump of its
internals, so it arrives here as DEBUG; its warnings and errors keep their level.

Every module of ours that needs llama_cpp imports it through `import_llama_cpp`, so the
callback is in place before llama.cpp writes its first line.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import threading
from types import ModuleType

log = logging.getLogger("llama.cpp")

# enum ggml_log_level in the llama.cpp that llama-cpp-python 0.3.36 builds (ggml/include/ggml.h):
# NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (goes on with the line before). NONE is
# unlabelled output, chatter like INFO. (llama-cpp-python's own _logger.py still has the
# older order, INFO 1 ... DEBUG 4, and so shows debug lines as errors.)
_LEVELS = {
    0: logging.DEBUG,
    1: logging.DEBUG,
    2: logging.DEBUG,
    3: logging.WARNING,
    4: logging.ERROR,
}
_CONT = 5


class _LineJoiner:
    """llama.cpp writes one line in several calls ("[ 1/272] token_embd.weight ...",
    "converting to q8_0 .. ", "size = ...\\n"); log each line once, whole, at the highest
    level any of its pieces had."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._pending = ""
        self._level = logging.DEBUG
        self._lock = threading.Lock()  # generation and loading threads log at the same time

    def write(self, ggml_level: int, text: str) -> None:
        piece = logging.DEBUG if ggml_level == _CONT else _LEVELS.get(ggml_level, logging.DEBUG)
        with self._lock:
            self._level = max(self._level, piece)
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
            level = self._level
            if lines:  # what is left pending starts the next line, with this piece's level
                self._level = piece if self._pending else logging.DEBUG
        for line in lines:
            if line.strip():
                self._logger.log(level, "%s", line.rstrip())


_joiner = _LineJoiner(log)
_callbacks: list[object] = []
"""ctypes keeps no reference to a callback it hands to C; this list keeps ours alive."""


def _forward(level: int, text: bytes | None, _user_data: ctypes.c_void_p) -> None:
    if text:
        _joiner.write(level, text.decode("utf-8", errors="replace"))


@functools.cache
def import_llama_cpp() -> ModuleType:
    """llama_cpp, with llama.cpp's log routed through `logging` (done once per process)."""
    import llama_cpp

    callback = llama_cpp.llama_log_callback(_forward)
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    _callbacks.append(callback)
    return llama_cpp


def log_callback() -> object:
    """The same callback, for llama.cpp's other log hooks (libmtmd's `mtmd_log_set`)."""
    import_llama_cpp()
    return _callbacks[0]
