"""pyflakes over the whole tree: unused imports and names, undefined names, and the
closure-over-`except`-variable kind of bug it found once in the engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_pyflakes_finds_nothing() -> None:
    checked = ["app.py", "autoglm_demo", "bench", "tests"]
    result = subprocess.run(
        [sys.executable, "-m", "pyflakes", *checked],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
