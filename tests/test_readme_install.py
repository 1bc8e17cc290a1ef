"""README's first command, run as a newcomer runs it, so that README cannot drift.

Its install part runs word for word in a copy of the tree (so it makes its own fresh `.venv`);
then its last step, `python app.py`, starts with an empty cache folder and must become healthy
and answer a chat request on loopback. The whole test took 2 min 29 s on 2 busy cores, with
pip's cache already holding llama-cpp-python's built wheel (as after README's test command's
own install); without it, compiling llama.cpp adds about 12 minutes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.test_dockerfile import readme_run_line

ROOT = Path(__file__).resolve().parent.parent
INSTALL_TIMEOUT_S = 1500
HEALTHY_TIMEOUT_S = 180

pytestmark = [pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT_S + HEALTHY_TIMEOUT_S + 120)]


def copy_of_the_tree(target: Path) -> Path:
    """The files a clone would have (tracked, plus new ones git does not ignore)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True, timeout=60,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def a_new_shell() -> dict[str, str]:
    """This environment without the test run's own virtual environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOGLM_", "VIRTUAL_ENV"))}
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        env["PATH"] = os.pathsep.join(
            part for part in env["PATH"].split(os.pathsep) if not part.startswith(venv)
        )
    return env


def wait_healthy(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + HEALTHY_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, f"python app.py exited with {process.returncode}"
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"python app.py was not healthy after {HEALTHY_TIMEOUT_S} s")


def test_readme_first_command_installs_a_demo_that_answers(tmp_path: Path) -> None:
    install, _, run = readme_run_line().rpartition(" && ")
    assert run == "python app.py"
    tree = copy_of_the_tree(tmp_path / "checkout")
    env = a_new_shell()
    installed = subprocess.run(["bash", "-c", install], cwd=tree, env=env, capture_output=True,
                               text=True, timeout=INSTALL_TIMEOUT_S)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    python = tree / ".venv" / "bin" / "python"
    # The light install: the offline default runs on llama.cpp, with no torch anywhere.
    probe = (
        "import importlib.util as u; print(u.find_spec('torch'), bool(u.find_spec('llama_cpp')))"
    )
    assert subprocess.run([str(python), "-c", probe], capture_output=True, text=True,
                          check=True, timeout=60).stdout.split() == ["None", "True"]

    port = free_port()
    env |= {"AUTOGLM_PORT": str(port), "AUTOGLM_CACHE_DIR": str(tmp_path / "cache"),
            "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    with (tmp_path / "app.log").open("wb") as log:
        process = subprocess.Popen([str(python), "app.py"], cwd=tree, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            wait_healthy(process, f"http://127.0.0.1:{port}/health")
            reply = httpx.post(
                f"http://127.0.0.1:{port}/v1/chat/completions",
                json={"model": "autoglm-phone-9b", "max_tokens": 16, "temperature": 0,
                      "messages": [{"role": "user", "content": "What is the capital of France?"}]},
                timeout=120,
            )
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"].strip()
    page = (tmp_path / "app.log").read_text(errors="replace")
    assert "llama_model_loader" not in page  # llama.cpp's own dump stays at DEBUG
