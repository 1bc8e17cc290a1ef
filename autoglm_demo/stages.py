"""Timestamps of the stages one streamed turn passes through, for finding where latency goes.

Each stage is one DEBUG record on the `autoglm_demo.stages` logger: the stage's name and
the wall-clock time (seconds since the epoch, so a browser's `performance.timeOrigin +
performance.now()` lines up with it on the same machine). The logger is off unless it is
set to DEBUG, and then a mark costs one `isEnabledFor` check; `bench/bench_page.py`
switches on this logger alone, so the rest of the process logs as configured.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("autoglm_demo.stages")


def mark(stage: str) -> None:
    """Record that the current turn reached `stage` now (dotted: `layer.what`)."""
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s %.6f", stage, time.time())
