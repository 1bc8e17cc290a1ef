"""Run a server with its turn-stage log (`autoglm_demo.stages`) written to a file.

    python -m bench.staged LOG_FILE app.py [ARGS...]
    python -m bench.staged LOG_FILE -m autoglm_demo serve [ARGS...]

Only that one logger is switched to DEBUG, so the server logs everything else as its
--log-level says, and the stages cost no more than they do in production. Each line of
LOG_FILE is `stage epoch_seconds`; `read_marks` parses it.
"""

from __future__ import annotations

import logging
import runpy
import sys
from pathlib import Path

from autoglm_demo.stages import log as stage_log


def read_marks(path: Path) -> list[tuple[str, float]]:
    """The (stage, epoch seconds) records in the file, in the order they were written."""
    marks = []
    for line in path.read_text().splitlines():
        stage, _, at = line.partition(" ")
        marks.append((stage, float(at)))
    return marks


def main() -> None:
    log_file, *command = sys.argv[1:]
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(message)s"))
    stage_log.addHandler(handler)
    stage_log.setLevel(logging.DEBUG)
    stage_log.propagate = False
    if command[0] == "-m":
        sys.argv = [command[1], *command[2:]]
        runpy.run_module(command[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = command
        runpy.run_path(command[0], run_name="__main__")


if __name__ == "__main__":
    main()
