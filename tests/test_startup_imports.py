"""Start-up imports only what runs: `--help` and the settings load no web stack and no model
runtime, and a server imports its runtime only when a variant loads (and the offline default,
all of whose variants run on llama.cpp, never imports torch).

Each check runs in a fresh interpreter, since this test process has imported everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TORCH = {"torch", "transformers", "accelerate", "bitsandbytes"}
RUNTIMES = TORCH | {"llama_cpp", "faster_whisper", "ctranslate2", "whisper"}
HEAVY = RUNTIMES | {"gradio"}
REPORT = "import json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"


def run_python(args: list[str], cache_dir: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, "AUTOGLM_CACHE_DIR": str(cache_dir)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def reported_modules(stdout: str) -> list[set[str]]:
    """Every module set that REPORT printed, in order."""
    return [set(json.loads(line)) for line in stdout.splitlines() if line.startswith("[")]


@pytest.mark.parametrize(
    "args",
    [
        ["app.py", "--help"],
        ["-m", "autoglm_demo", "serve", "--help"],
        ["-m", "autoglm_demo", "export-episodes", "--help"],
    ],
    ids=["page", "serve", "export-episodes"],
)
def test_help_imports_no_web_stack_and_no_runtime(args: list[str], tmp_path: Path) -> None:
    result = run_python(["-X", "importtime", *args], tmp_path)
    lines = result.stderr.splitlines()
    rows = [line.split("|") for line in lines if line.startswith("import time:")]
    modules = {row[-1].strip().split(".")[0] for row in rows[1:]}
    assert "--default-precision" in result.stdout
    assert "argparse" in modules  # the probe sees imports at all
    assert not modules & HEAVY, sorted(modules & HEAVY)


def test_settings_import_nothing_heavy(tmp_path: Path) -> None:
    code = f"from autoglm_demo.settings import parse_settings\nparse_settings([])\n{REPORT}"
    (modules,) = reported_modules(run_python(["-c", code], tmp_path).stdout)
    assert "autoglm_demo" in modules
    assert not modules & (HEAVY | {"fastapi", "numpy", "PIL"}), sorted(modules & HEAVY)


def test_the_offline_default_imports_llama_cpp_when_it_loads_and_torch_never(
    offline_cache_dir: Path,
) -> None:
    code = "\n".join([
        "from autoglm_demo.main import build_pool",
        "from autoglm_demo.server.api import create_app",
        "from autoglm_demo.settings import Settings",
        "settings = Settings()",
        "pool = build_pool(settings)",
        "app = create_app(settings, pool)",
        REPORT,
        "pool.start().start_loading().join()",
        "assert pool.default.status.state.value == 'ready', pool.default.status",
        REPORT,
    ])
    built, loaded = reported_modules(run_python(["-c", code], offline_cache_dir).stdout)
    assert "fastapi" in built
    assert not built & HEAVY, sorted(built & HEAVY)
    assert "llama_cpp" in loaded
    assert not loaded & TORCH, sorted(loaded & TORCH)


def test_the_page_app_serves_before_it_imports_the_page(tmp_path: Path) -> None:
    """`python app.py` builds its app, and serves /health and /v1, before the page's modules
    are imported (on a thread, once serving): those are the slowest of all."""
    code = "\n".join([
        "from autoglm_demo.main import build_page_app",
        "from autoglm_demo.settings import Settings",
        "app = build_page_app(Settings())",
        REPORT,
    ])
    (modules,) = reported_modules(run_python(["-c", code], tmp_path).stdout)
    assert "fastapi" in modules and "uvicorn" in modules
    page_only = {"gradio", "openai", "sqlalchemy", "alembic", "av", "httpx", "limits"}
    assert not modules & (HEAVY | page_only), sorted(modules & (HEAVY | page_only))
