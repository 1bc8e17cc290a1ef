"""Linters over the whole tree. pyflakes: unused imports and names, undefined names, and the
closure-over-`except`-variable kind of bug it found once in the engine. ruff, as configured
in pyproject.toml: pycodestyle with the project's line length, import order, bugbear."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ["app.py", "autoglm_demo", "bench", "tests", "tools"]


def test_pyflakes_finds_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pyflakes", *CHECKED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_finds_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", *CHECKED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
